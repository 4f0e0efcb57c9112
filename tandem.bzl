"""cc_module: one building block by the tree's convention, in one line of a BUILD file.

  cc_module("tap", deps = ["//base"])

is cc_library "tap" of tap.cc (when there is one) and tap.h and, when tap_test.cc exists, cc_test
"tap_test" over doctest (//tests/unit:doctest_main) with "tap" and test_deps. srcs and hdrs replace
the file names when a block has more files; every other argument goes to the cc_library.
"""

def cc_module(name, deps = [], srcs = None, hdrs = None, test_deps = [], **kwargs):
    native.cc_library(
        name = name,
        srcs = srcs if srcs != None else native.glob([name + ".cc"], allow_empty = True),
        hdrs = hdrs if hdrs != None else [name + ".h"],
        deps = deps,
        **kwargs
    )
    test = native.glob([name + "_test.cc"], allow_empty = True)
    if test:
        native.cc_test(
            name = name + "_test",
            srcs = test,
            deps = [":" + name, "//tests/unit:doctest_main"] + test_deps,
        )
