// The live update stream (GET /api/v1/ws). Every frame carries the cursor of the caller's update
// log; after a lost connection the stream is reopened with the last cursor seen, so the server
// replays exactly what was missed. A frame at or before that cursor is a duplicate and is dropped.

import { setAppsUrl } from "./ui/miniapp.js";
import type { Frame } from "./api.js";

export type LiveStatus = "connecting" | "online" | "offline";

const MIN_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;

export class Live {
  private ws: WebSocket | null = null;
  private cursor: number;
  private failures = 0;
  private timer: number | undefined;
  private stopped = false;

  constructor(
    private readonly token: string,
    /** Where the stream starts: the cursor the client's state is at. */
    cursor: number,
    private readonly onFrame: (frame: Frame) => void,
    private readonly onStatus: (status: LiveStatus) => void,
    /** Asked after a failed attempt: false when the session is gone, which stops the stream. */
    private readonly stillSignedIn: () => Promise<boolean>,
  ) {
    this.cursor = cursor;
    window.addEventListener("online", this.retryNow);
    document.addEventListener("visibilitychange", this.retryNow);
  }

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    window.removeEventListener("online", this.retryNow);
    document.removeEventListener("visibilitychange", this.retryNow);
    this.ws?.close(1000);
    this.ws = null;
  }

  private readonly retryNow = () => {
    if (this.stopped || this.ws || document.visibilityState === "hidden") return;
    window.clearTimeout(this.timer);
    this.connect();
  };

  private connect(): void {
    this.onStatus("connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const params = new URLSearchParams({ token: this.token });
    params.set("cursor", String(this.cursor));
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/ws?${params}`);
    this.ws = ws;
    ws.onmessage = (ev) => {
      let frame: Frame;
      try {
        frame = JSON.parse(ev.data as string) as Frame;
      } catch {
        return;
      }
      if (frame.type === "hello") {
        setAppsUrl(frame.apps_url);
        this.failures = 0;
        this.onStatus("online");
        return;
      }
      // Chat actions are not in the log: their cursor is only where the stream stands.
      if (frame.type !== "chat_action") {
        if (frame.cursor <= this.cursor) return;
        this.cursor = frame.cursor;
      }
      this.onFrame(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.onStatus("offline");
      this.failures += 1;
      const delay = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** (this.failures - 1)) * (0.75 + Math.random() / 2);
      this.timer = window.setTimeout(async () => {
        if (this.stopped) return;
        if (this.failures > 1 && !(await this.stillSignedIn())) {
          this.stop();
          return;
        }
        if (!this.stopped && !this.ws) this.connect();
      }, delay);
    };
  }
}
