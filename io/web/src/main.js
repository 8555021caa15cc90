// dyn4d's built-in page: live (a client of the viewer's Foxglove WebSocket
// on the port that served it) or, with a run's data embedded, its report.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { startLive } from "./live.js";
import { startReport } from "./report.js";

window.addEventListener("DOMContentLoaded", () => {
  if (window.DYN4D_REPORT) startReport(window.DYN4D_REPORT);
  else startLive();
});
