// vmm/ctl.cc: `tandem ctl` (see ctl.h).
#include "vmm/ctl.h"

#include <unistd.h>

#include <cstdio>
#include <map>
#include <regex>
#include <thread>

#include "vmm/api/client.h"

namespace tandem {

using api::Json;

Result<Json> ctl_params(const std::vector<std::string>& words) {
  if (words.size() == 1 && !words[0].empty() && (words[0][0] == '{' || words[0][0] == '[')) {
    Json j = Json::parse(words[0], nullptr, false);
    if (j.is_discarded()) return Error{"the params '" + words[0] + "' are not valid JSON"};
    return j;
  }
  Json params = Json::object();
  static const std::regex kInteger("-?[0-9]{1,18}");
  for (const auto& w : words) {
    size_t eq = w.find('=');
    if (eq == std::string::npos || eq == 0) return Error{"'" + w + "' is not KEY=VALUE (or give the params as one JSON object)"};
    std::string key = w.substr(0, eq), text = w.substr(eq + 1);
    if (params.contains(key)) return Error{"'" + key + "' is given twice"};
    Json value;
    if (text == "true" || text == "false") {
      value = text == "true";
    } else if (text == "null") {
      value = nullptr;
    } else if (std::regex_match(text, kInteger)) {
      value = std::stoll(text);
    } else if (!text.empty() && (text[0] == '{' || text[0] == '[' || text[0] == '"')) {
      value = Json::parse(text, nullptr, false);
      if (value.is_discarded()) return Error{"the value of '" + key + "' starts like JSON but is not valid JSON: " + text};
    } else {
      value = text;
    }
    params[key] = value;
  }
  return params;
}

namespace {

std::string scalar_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// A row whose values are objects ({"id": "net0", "counters": {"rx_packets": 3}}) with those
// objects' members as columns of their own ({"id": "net0", "rx_packets": 3}); a member whose name
// the row has already is "object.member" ("guest.mac").
Json spread(const Json& row) {
  Json flat = Json::object();
  for (const auto& [k, v] : row.items()) {
    if (!v.is_object()) flat[k] = v;
  }
  for (const auto& [k, v] : row.items()) {
    if (!v.is_object()) continue;
    for (const auto& [k2, v2] : v.items()) {
      flat[flat.contains(k2) ? k + "." + k2 : k2] = v2;
    }
  }
  return flat;
}

std::string table(const Json& nested) {
  Json rows = Json::array();
  for (const auto& r : nested) rows.push_back(spread(r));
  // Identifying columns first, then the rest as they appear (nlohmann-json sorts keys).
  std::vector<std::string> cols;
  for (const char* first : {"id", "name", "vcpu", "type", "pci", "state"}) {
    for (const auto& r : rows) {
      if (r.contains(first)) {
        cols.push_back(first);
        break;
      }
    }
  }
  for (const auto& r : rows) {
    for (const auto& [k, v] : r.items()) {
      if (std::find(cols.begin(), cols.end(), k) == cols.end()) cols.push_back(k);
    }
  }
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> width(cols.size());
  cells.push_back({});
  for (size_t c = 0; c < cols.size(); ++c) {
    std::string h = cols[c];
    for (auto& ch : h) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    cells.back().push_back(h);
  }
  for (const auto& r : rows) {
    cells.push_back({});
    for (const auto& c : cols) cells.back().push_back(r.contains(c) ? scalar_text(r[c]) : "-");
  }
  for (const auto& row : cells) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : cells) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

bool all_objects(const Json& a) {
  if (!a.is_array() || a.empty()) return false;
  for (const auto& e : a) {
    if (!e.is_object()) return false;
  }
  return true;
}

}  // namespace

std::string human_text(const Json& value) {
  if (all_objects(value)) return table(value);
  if (!value.is_object()) return scalar_text(value) + "\n";
  size_t w = 0;
  for (const auto& [k, v] : value.items()) {
    if (!all_objects(v)) w = std::max(w, k.size());
  }
  std::string out, tables;
  for (const auto& [k, v] : value.items()) {
    if (all_objects(v)) {
      tables += "\n" + k + ":\n" + table(v);
    } else {
      out += k + std::string(w - k.size() + 2, ' ') + scalar_text(v) + "\n";
    }
  }
  return out + tables;
}

namespace {

// --watch: the call again every second (the screen cleared first when it is a terminal), until
// --count calls or until the VM goes (exit 0), or an error reply (exit 1).
template <typename Print>
int watch(api::Client& client, const CtlArgs& args, const Json& params, Print print) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  for (unsigned n = 1; args.count == 0 || n < args.count; ++n) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto reply = client.call(args.method, params, std::chrono::seconds(args.timeout_s));
    if (!reply) {
      std::fprintf(stderr, "tandem ctl: %s: the VM is gone (%s)\n", args.method.c_str(), reply.message().c_str());
      return 0;
    }
    if (reply->contains("error")) {
      std::fprintf(stderr, "tandem ctl: %s: error: %s\n", args.method.c_str(), scalar_text((*reply)["error"].value("message", Json(""))).c_str());
      return 1;
    }
    if (tty) std::fputs("\033[H\033[2J", stdout);
    print(reply->value("result", Json(nullptr)));
  }
  return 0;
}

}  // namespace

int run_ctl(const CtlArgs& args) {
  auto params = ctl_params(args.params);
  if (!params) {
    std::fprintf(stderr, "tandem ctl: %s\n", params.message().c_str());
    return 2;
  }
  auto client = api::Client::connect(args.socket);
  if (!client) {
    std::fprintf(stderr, "tandem ctl: %s (is the VM running with --api-socket %s?)\n", client.message().c_str(), args.socket.c_str());
    return 1;
  }
  auto print = [&](const Json& j) {
    std::string text = args.human ? human_text(j) : j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  };
  auto show_notification = [&](const Json& n) { print(n.contains("params") ? n["params"] : n); };
  auto reply = client->call(args.method, *params, std::chrono::seconds(args.timeout_s), args.follow ? std::function<void(const Json&)>(show_notification) : nullptr);
  if (!reply) {
    std::fprintf(stderr, "tandem ctl: %s: %s\n", args.method.c_str(), reply.message().c_str());
    return 1;
  }
  if (reply->contains("error")) {
    const Json& e = (*reply)["error"];
    std::fprintf(stderr, "tandem ctl: %s: error %s: %s\n", args.method.c_str(), scalar_text(e.value("code", Json(0))).c_str(),
                 scalar_text(e.value("message", Json("(no message)"))).c_str());
    return 1;
  }
  print(reply->value("result", Json(nullptr)));
  if (args.watch) return watch(*client, args, *params, print);
  if (args.follow) {
    while (true) {
      auto n = client->next(std::chrono::milliseconds(-1));
      if (!n) break;  // the VM closed the socket: it is gone
      show_notification(*n);
    }
  }
  return 0;
}

}  // namespace tandem
