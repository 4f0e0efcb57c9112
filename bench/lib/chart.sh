# bench/lib/chart.sh: the benchmarks' SVG bar charts (gnuplot, from Debian), sourced.

# bench_name PATH: a data path's display name (one word: chart keys split on spaces).
bench_name() {
  case "$1" in
    tap) echo "tap+bridge" ;; vhost) echo "tap+vhost-net" ;; testpmd) echo "dpdk-testpmd" ;; ovs) echo "ovs-dpdk" ;;
    vpci) echo "vhost-pci" ;; vsym) echo "vhost-pci-2.1" ;; *) echo "$1" ;;
  esac
}

# bar_chart DATA SVG TITLE YLABEL [REF]: clustered bars from the table in DATA. Its first line is
# "group NAME..." (one name per bar colour), each further line a group: a quoted label and one
# value per name ("NA" where none). REF, when given, draws a dashed line at that value (1 for
# ratios). gnuplot's errors go to stderr; returns its status.
bar_chart() {
  local data="$1" svg="$2" title="$3" ylabel="$4" ref="${5:-}" ncol err rc=0
  rm -f "$svg"   # no chart from an earlier run left standing
  # a value besides the quoted label (which may hold numbers: "A->B 64 B")
  if ! awk 'NR > 1 { sub(/^"[^"]*"/, ""); for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) found = 1 } END { exit !found }' "$data"; then
    echo "no chart: no values in $data (the run measured nothing)" >&2
    return 1
  fi
  ncol="$(head -n 1 "$data" | wc -w)"
  err="$(mktemp)"
  gnuplot 2>"$err" <<GP || rc=$?
set terminal svg size 900,480 dynamic font "sans,11"
set output "$svg"
set title "$title"
set datafile missing "NA"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set ylabel "$ylabel"
set yrange [0:*]
set grid ytics
set key outside right top
${ref:+set arrow from graph 0, first $ref to graph 1, first $ref nohead dt 2}
plot for [i=2:$ncol] "$data" using i:xtic(1) title columnheader(i)
GP
  (( rc == 0 )) || cat "$err" >&2
  rm -f "$err"
  return "$rc"
}

# median_chart_data KEY GROUPS COLUMNS < LINES: the table bar_chart reads, from lines like
# "MEDIAN backend=vpci dir=ab size=60 rx_pps=16000 ..." or, for a cell no MEDIAN line gives (the
# nested host ended before its report), the median of its "RESULT ..." lines. COLUMNS is
# "FIELD=VALUE:NAME ..." (one bar colour each, e.g. "backend=vpci:vhost-pci"), GROUPS
# "FIELD=VALUE[,FIELD=VALUE]:LABEL ..." with _ for a space in LABEL (e.g. "dir=ab,size=60:A->B_64_B");
# the value is KEY in thousands (kpps).
median_chart_data() {
  awk -v key="$1" -v groups="$2" -v cols="$3" '
    function has(line, conds,   n, c, i) {
      n = split(conds, c, ",")
      for (i = 1; i <= n; i++) if (index(" " line " ", " " c[i] " ") == 0) return 0
      return 1
    }
    function value(line) {
      return match(line, " " key "=[0-9]+") ? substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2) : ""
    }
    function median(list,   n, a, i, j, t) {
      n = split(list, a, " ")
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n ? a[int((n + 1) / 2)] : ""
    }
    /^MEDIAN / { med[++nm] = $0 }
    /^RESULT / { res[++nr] = $0 }
    END {
      nc = split(cols, col, " "); ng = split(groups, grp, " ")
      printf "group"
      for (j = 1; j <= nc; j++) { split(col[j], cp, ":"); printf " %s", cp[2] }
      printf "\n"
      for (g = 1; g <= ng; g++) {
        split(grp[g], gp, ":"); label = gp[2]; gsub(/_/, " ", label); printf "\"%s\"", label
        for (j = 1; j <= nc; j++) {
          split(col[j], cp, ":"); v = ""; runs = ""
          for (l = 1; l <= nm; l++) if (has(med[l], gp[1] "," cp[1]) && value(med[l]) != "") v = value(med[l])
          if (v == "") {
            for (l = 1; l <= nr; l++) if (has(res[l], gp[1] "," cp[1]) && value(res[l]) != "") runs = runs " " value(res[l])
            v = median(runs)
          }
          printf " %s", (v == "") ? "NA" : sprintf("%.2f", v / 1000)
        }
        printf "\n"
      }
    }'
}

# nested_kpps_chart NAME GROUPS COLUMNS TITLE: the chart of a nested benchmark's received rates,
# .cache/NAME.svg from the MEDIAN (or RESULT) rx_pps lines in .cache/NAME.txt (median_chart_data's
# GROUPS and COLUMNS), its table in .cache/NAME/chart.dat.
nested_kpps_chart() {
  mkdir -p ".cache/$1"
  tr -d '\r' < ".cache/$1.txt" | median_chart_data rx_pps "$2" "$3" > ".cache/$1/chart.dat"
  bar_chart ".cache/$1/chart.dat" ".cache/$1.svg" "$4" "kpps (guests nested under TCG)" && echo "chart: .cache/$1.svg"
}
