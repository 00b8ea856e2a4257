// `zbuild report TRACE -o report.html`: turns a trace written by `zbuild submit --trace`
// (client/trace.h) into one self-contained HTML page — a Gantt chart with a row per worker
// slot (one bar per task that ran or was answered from the cache), the critical path
// highlighted, and the metrics table. No external resources: the data and the script that
// draws the SVG are inline.
//
// When the page has drawn, <body> carries data-status="ok" and data-bars=N (bars drawn);
// a script error sets data-status="error" and is written into <pre id="errors">. Headless
// browsers check the page through these (tests/e2e/test_observe.py).
#pragma once

#include <string>

#include "common/result.h"

namespace zbuild::client {

// The HTML page for the trace JSON text; an error names what is missing from it.
Result<std::string> render_report(const std::string& trace_json);

// Reads `trace_path`, writes the page to `out_path` atomically. Exit code: 0 written,
// 1 the trace could not be read or is not a zbuild trace, or the page could not be written.
int run_report(const std::string& trace_path, const std::string& out_path);

}  // namespace zbuild::client
