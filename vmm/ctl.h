// vmm/ctl.h: `tandem ctl SOCKET METHOD [KEY=VALUE... | JSON]`: one API call from the shell.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "vmm/api/jsonrpc.h"
#include "vmm/cli.h"

namespace tandem {

// The params object from the words after the method: either one JSON object or array, or
// KEY=VALUE pairs, where VALUE is true/false, null, an integer, JSON when it starts with { [ or ",
// else a string ("tap=tp0 vhost=true" is {"tap": "tp0", "vhost": true}).
Result<api::Json> ctl_params(const std::vector<std::string>& words);
// --human: objects as "key  value" lines, arrays of objects as a table, strings unquoted.
std::string human_text(const api::Json& value);
// Runs the call: the result on stdout (JSON, or --human), exit 0; an error reply on stderr, exit 1;
// no connection or no reply: exit 1; bad words: exit 2.
int run_ctl(const CtlArgs& args);

}  // namespace tandem
