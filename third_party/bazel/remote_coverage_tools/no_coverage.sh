#!/bin/sh
echo "coverage is not available in tandem's offline Bazel set-up" >&2
exit 1
