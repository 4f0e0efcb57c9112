"""tandem_fuzzer: one libFuzzer target and its corpus regression test.

  <name>              the libFuzzer binary (tags "manual", "fuzz"): only with --config=fuzz (clang,
                      -fsanitize=fuzzer,address,undefined); tools/fuzz builds and runs it.
  <name>_corpus_test  the same LLVMFuzzerTestOneInput linked with replay_main.cc and run over every
                      file of corpus/<name>/ in the ordinary build: every seed and every input a
                      fuzzer once found stays a regression test of `bazel test //...`.
"""

def tandem_fuzzer(name, srcs, deps):
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps,
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual", "fuzz"],
    )
    native.cc_test(
        name = name + "_corpus_test",
        srcs = srcs + ["replay_main.cc"],
        deps = deps,
        data = native.glob(["corpus/" + name + "/**"]),
        args = ["tests/fuzz/corpus/" + name],
        size = "small",
    )
