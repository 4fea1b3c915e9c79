// The open chat: header, history (loaded as you scroll up, live at the bottom), the composer with
// reply and edit, and what bots add to it: the command menu, the menu button, reply keyboards,
// force replies, chat actions, blocking and the START button.

import { type Api, ApiError, type BotInfo, type Chat, type InlineButton, type KeyboardButton, type Message } from "../api.js";
import { avatar, dayLabel, fill, h } from "../dom.js";
import type { Change, Model } from "../model.js";
import { icon } from "../icons.js";
import { snippet } from "../text.js";
import { alertBox, confirmBox, modal, popupMenu, toast } from "./dialogs.js";
import { type MessageHost, renderMessage, stamp } from "./message.js";
import { launchMode, openMiniApp, prewarm } from "./miniapp.js";
import { invoiceSlug, type Link, parseLink } from "../links.js";
import { openInvoice } from "./payments.js";

const PAGE = 50;
/** Closer than this to the bottom counts as "at the bottom": new messages keep it there. */
const STICKY_PX = 80;
const REACTIONS = ["👍", "❤️", "🔥", "😂", "😮", "😢", "👎", "🎉"];

export interface ChatHost {
  api: Api;
  model: Model;
  openChat(id: number): void;
  openUsername(username: string): void;
  openLink(link: Link): Promise<void>;
  back(): void;
  groupInfo(chat: Chat): void;
}

/** Why something went wrong, for a toast. */
export function describe(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 429) return `Too many requests: try again in ${e.retryAfter ?? 1} s.`;
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

export class ChatView implements MessageHost {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly title: HTMLElement;
  private readonly subtitle: HTMLElement;
  private readonly headerActions: HTMLElement;
  private readonly composer: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private readonly bar: HTMLElement;
  private readonly keyboard: HTMLElement;
  private readonly suggestions: HTMLElement;
  private readonly leftButtons: HTMLElement;
  private readonly jump: HTMLButtonElement;
  private readonly rendered = new Map<number, { el: HTMLElement; stamp: string; first: boolean }>();
  /** The element above the first message (start of history, or loading), and day separators. */
  private head: { key: string; el: HTMLElement } | null = null;
  private readonly days = new Map<string, HTMLElement>();
  private readonly files = new Map<string, Promise<string>>();
  private readonly unsubscribe: () => void;
  private replyTo: Message | null = null;
  private editing: Message | null = null;
  private loadingOlder = false;
  private bot: BotInfo | null = null;
  private blocked = false;
  /** The keyboard message whose one-time keyboard was used, so it stays hidden. */
  private keyboardHidden: number | null = null;
  /** A deep link's START payload waiting for the press. */
  private startPayload: string | null;
  private lastTyping = 0;
  private readTimer: number | undefined;
  private actionTimer: number | undefined;
  private sending = false;
  /** The reader is at the newest message: keep them there as things arrive or the view resizes. */
  private stuck = true;
  private readonly resize = new ResizeObserver(() => {
    if (this.stuck) this.list.scrollTop = this.list.scrollHeight;
  });

  constructor(
    private readonly host: ChatHost,
    public chat: Chat,
    startPayload: string | null = null,
  ) {
    this.startPayload = startPayload;
    this.title = h("h2", { class: "chat-title" });
    this.subtitle = h("div", { class: "chat-subtitle", "aria-live": "polite" });
    this.headerActions = h("div", { class: "header-actions" });
    const header = h(
      "header",
      { class: "chat-header" },
      h("button", { class: "icon back", "aria-label": "Back to chats", onclick: () => host.back() }, icon("back")),
      avatar(chat.id, chat.title),
      h("div", { class: "chat-heading", onclick: () => chat.type === "group" && host.groupInfo(this.chat) }, this.title, this.subtitle),
      this.headerActions,
    );
    this.list = h("div", { class: "messages", role: "log", "aria-label": "Messages", tabindex: "0" });
    this.jump = h("button", { class: "jump", hidden: true, "aria-label": "Scroll to the newest message", onclick: () => this.scrollToBottom() }, icon("down"));
    this.input = h("textarea", { rows: 1, placeholder: "Message", "aria-label": "Message", name: "message", enterkeyhint: "send" });
    this.bar = h("div", { class: "compose-bar", hidden: true });
    this.keyboard = h("div", { class: "reply-kb", hidden: true, role: "group", "aria-label": "Bot keyboard" });
    this.suggestions = h("ul", { class: "suggestions", role: "listbox", hidden: true, "aria-label": "Commands" });
    this.leftButtons = h("div", { class: "compose-left" });
    const file = h("input", { type: "file", hidden: true, "aria-hidden": "true" });
    file.addEventListener("change", () => {
      const f = file.files?.[0];
      file.value = "";
      if (f) void this.attach(f);
    });
    const attach = h("button", { class: "icon attach", "aria-label": "Attach a photo or file", title: "Attach", onclick: () => file.click() }, icon("attach"));
    const send = h("button", { class: "icon send", "aria-label": "Send", title: "Send", type: "submit" }, icon("send"));
    const form = h("form", { class: "compose-row" }, this.leftButtons, attach, this.input, send, file);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.submit();
    });
    this.composer = h("footer", { class: "composer" }, this.suggestions, this.bar, form, this.keyboard);
    this.el = h("section", { class: "chat", "aria-label": chat.title }, header, h("div", { class: "messages-wrap" }, this.list, this.jump), this.composer);

    this.input.addEventListener("keydown", (ev) => this.onKey(ev));
    this.input.addEventListener("input", () => this.onInput());
    this.list.addEventListener("scroll", () => this.onScroll(), { passive: true });
    this.resize.observe(this.list);
    window.addEventListener("focus", this.scheduleRead);
    document.addEventListener("visibilitychange", this.scheduleRead);
    this.unsubscribe = host.model.on((c) => this.onChange(c));
    this.actionTimer = window.setInterval(() => this.renderHeader(), 1000);
    this.renderHeader();
    void this.load();
  }

  get meId(): number {
    return this.host.model.me.id;
  }

  destroy(): void {
    this.unsubscribe();
    this.resize.disconnect();
    window.removeEventListener("focus", this.scheduleRead);
    document.removeEventListener("visibilitychange", this.scheduleRead);
    window.clearInterval(this.actionTimer);
    window.clearTimeout(this.readTimer);
    for (const p of this.files.values()) void p.then((u) => URL.revokeObjectURL(u), () => undefined);
  }

  focus(): void {
    this.input.focus();
  }

  private get peerBot(): boolean {
    return this.chat.type === "private" && !!this.chat.peer?.is_bot;
  }

  private async load(): Promise<void> {
    const { api, model } = this.host;
    const tasks: Promise<unknown>[] = [];
    if (!model.histories.get(this.chat.id)) {
      this.list.append(h("div", { class: "loading", "aria-label": "Loading" }));
      model.loadingHistory(this.chat.id);
      tasks.push(
        api.history(this.chat.id, { limit: PAGE }).then((page) => model.addHistory(this.chat.id, page, page.length < PAGE)),
      );
    }
    if (this.chat.type === "private") {
      tasks.push(api.blocked(this.chat.id).then((b) => (this.blocked = b.blocked)));
    }
    if (this.peerBot && this.chat.peer) {
      tasks.push(api.botInfo(this.chat.peer.username, this.chat.id).then((b) => (this.bot = b)));
    }
    const results = await Promise.allSettled(tasks);
    for (const r of results) if (r.status === "rejected") toast(describe(r.reason), "error");
    this.renderMessages(true);
    this.renderComposer();
  }

  private onChange(c: Change): void {
    const id = this.chat.id;
    if (c.kind === "chats") {
      const item = this.host.model.chats.get(id);
      if (item && item.chat !== this.chat) this.chat = item.chat;
      this.renderHeader();
    } else if (c.kind === "history" && c.chatId === id) {
      this.renderMessages(false);
      this.renderComposer();
    } else if (c.kind === "message" && c.chatId === id) {
      this.renderMessages(false);
    } else if (c.kind === "action" && c.chatId === id) {
      this.renderHeader();
    }
  }

  // ---- header -------------------------------------------------------------------------------

  private renderHeader(): void {
    const c = this.chat;
    this.title.textContent = c.title;
    const actions = this.host.model.actions(c.id);
    if (actions.length) {
      const who = c.type === "group" ? actions.map((a) => this.nameOf(a.user)).join(", ") + " " : "";
      const verb = actions[0].action === "typing" ? "typing" : actions[0].action.replace(/^upload_/, "sending a ").replace(/_/g, " ");
      this.subtitle.textContent = `${who}is ${verb}…`;
      this.subtitle.classList.add("active");
    } else {
      this.subtitle.classList.remove("active");
      this.subtitle.textContent =
        c.type === "group" ? `${c.member_count ?? 0} members` : c.peer?.is_bot ? `bot · @${c.peer.username}` : `@${c.peer?.username ?? ""}`;
    }
    if (!this.headerActions.firstChild) {
      const more = h("button", { class: "icon", "aria-label": "Chat actions", title: "More" }, icon("more"));
      more.addEventListener("click", () => {
        const r = more.getBoundingClientRect();
        this.chatMenu(r.right - 180, r.bottom);
      });
      this.headerActions.append(more);
    }
  }

  private nameOf(userId: number): string {
    const m = this.host.model.histories.get(this.chat.id)?.messages.findLast((x) => x.from.id === userId);
    return m?.from.display_name ?? "Someone";
  }

  private chatMenu(x: number, y: number): void {
    const c = this.chat;
    const items: ([string, () => void] | null)[] = [];
    if (c.type === "group") items.push(["Group info", () => this.host.groupInfo(c)]);
    if (c.type === "private") {
      const what = this.peerBot ? "bot" : "user";
      items.push(
        this.blocked
          ? [`Unblock ${what}`, () => void this.setBlocked(false)]
          : [`Block ${what}`, () => void this.setBlocked(true)],
      );
    }
    if (this.bot?.description) items.push(["About this bot", () => void alertBox(this.bot?.description ?? "", this.bot?.name)]);
    popupMenu(x, y, items);
  }

  private async setBlocked(blocked: boolean): Promise<void> {
    if (blocked && !(await confirmBox(`Block ${this.chat.title}? ${this.peerBot ? "The bot" : "They"} can no longer message you.`, "Block", true))) return;
    try {
      await this.host.api.setBlocked(this.chat.id, blocked);
      this.blocked = blocked;
      toast(blocked ? `${this.chat.title} is blocked` : `${this.chat.title} is unblocked`);
      this.renderComposer();
    } catch (e) {
      toast(describe(e), "error");
    }
  }

  // ---- history ------------------------------------------------------------------------------

  private atBottom(): boolean {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < STICKY_PX;
  }

  private scrollToBottom(): void {
    this.stuck = true;
    this.list.scrollTop = this.list.scrollHeight;
    this.jump.hidden = true;
    this.scheduleRead();
  }

  private renderMessages(initial: boolean): void {
    const history = this.host.model.histories.get(this.chat.id);
    if (!history) return;
    const stick = initial || this.stuck;
    const prevHeight = this.list.scrollHeight;
    const prevTop = this.list.scrollTop;
    const firstBefore = Number(this.list.querySelector("[data-id]")?.getAttribute("data-id") ?? 0);
    const nodes: Node[] = [];
    const headKey = history.complete ? `start:${history.messages.length ? "" : this.emptyText()}` : "loading";
    if (this.head?.key !== headKey) {
      const el = history.complete
        ? h("div", { class: "history-start" }, history.messages.length ? "" : this.emptyText())
        : h("div", { class: "loading older", "aria-label": "Loading older messages" });
      this.head = { key: headKey, el };
    }
    nodes.push(this.head.el);
    const seen = new Set<number>();
    let prev: Message | undefined;
    for (const m of history.messages) {
      seen.add(m.message_id);
      if (!prev || dayLabel(prev.date) !== dayLabel(m.date)) {
        const label = dayLabel(m.date);
        let day = this.days.get(label);
        if (!day) {
          day = h("div", { class: "day" }, h("span", {}, label));
          this.days.set(label, day);
        }
        nodes.push(day);
      }
      const first = !prev || prev.from.id !== m.from.id || !!prev.service || m.date - prev.date > 300 || dayLabel(prev.date) !== dayLabel(m.date);
      const s = stamp(m, this.chat, this.meId);
      let r = this.rendered.get(m.message_id);
      if (!r || r.stamp !== s || r.first !== first) {
        r = { el: renderMessage(m, this, first), stamp: s, first };
        this.rendered.set(m.message_id, r);
      }
      nodes.push(r.el);
      prev = m;
    }
    for (const id of this.rendered.keys()) if (!seen.has(id)) this.rendered.delete(id);
    // Usually only new messages were added at the end: append them instead of rebuilding.
    const current = this.list.children;
    const prefix = current.length <= nodes.length && [...current].every((el, i) => el === nodes[i]);
    if (prefix) this.list.append(...nodes.slice(current.length));
    else this.list.replaceChildren(...nodes);
    const firstAfter = history.messages[0]?.message_id ?? 0;
    if (stick) {
      this.list.scrollTop = this.list.scrollHeight;
    } else if (firstBefore && firstAfter < firstBefore) {
      // Older messages went in above: keep what the reader was looking at where it was.
      this.list.scrollTop = prevTop + (this.list.scrollHeight - prevHeight);
    } else if (history.messages.length && !this.atBottom()) {
      this.jump.hidden = false;
    }
    this.scheduleRead();
    // A short first page may not fill the view, leaving nothing to scroll: load more now.
    if (!history.complete && this.list.scrollHeight <= this.list.clientHeight) void this.loadOlder();
  }

  private emptyText(): string {
    if (this.peerBot) return this.bot?.description || "This bot has not said anything yet.";
    return this.chat.type === "group" ? "No messages here yet." : "No messages yet. Say hello!";
  }

  private onScroll(): void {
    if (this.list.scrollTop < 300) void this.loadOlder();
    this.stuck = this.atBottom();
    if (this.stuck) this.jump.hidden = true;
    this.scheduleRead();
  }

  private async loadOlder(): Promise<void> {
    const history = this.host.model.histories.get(this.chat.id);
    if (!history || history.complete || this.loadingOlder) return;
    const oldest = history.messages[0]?.message_id;
    if (oldest === undefined) return;
    this.loadingOlder = true;
    try {
      const page = await this.host.api.history(this.chat.id, { before: oldest, limit: PAGE });
      this.host.model.addHistory(this.chat.id, page, page.length < PAGE);
    } catch (e) {
      toast(describe(e), "error");
    } finally {
      this.loadingOlder = false;
    }
  }

  /** Marks read what the reader can see, once the window has focus. */
  private readonly scheduleRead = () => {
    window.clearTimeout(this.readTimer);
    this.readTimer = window.setTimeout(() => void this.markRead(), 250);
  };

  private async markRead(): Promise<void> {
    if (document.visibilityState !== "visible" || !document.hasFocus()) return;
    const history = this.host.model.histories.get(this.chat.id);
    if (!history) return;
    const bottom = this.list.scrollTop + this.list.clientHeight;
    let max = 0;
    for (let i = history.messages.length - 1; i >= 0; i--) {
      const m = history.messages[i];
      const el = this.rendered.get(m.message_id)?.el;
      if (el && el.offsetTop + Math.min(el.offsetHeight, 40) <= bottom + 1) {
        max = m.message_id;
        break;
      }
    }
    const item = this.host.model.chats.get(this.chat.id);
    if (!item || max <= item.chat.read_inbox_max_id) return;
    try {
      await this.host.api.markRead(this.chat.id, max);
      this.host.model.apply({ type: "read_inbox", cursor: 0, chat_id: this.chat.id, max_id: max });
    } catch {
      // Not worth a toast: the next scroll or message tries again.
    }
  }

  // ---- MessageHost ----------------------------------------------------------------------------

  lookup(id: number): Message | undefined {
    return this.host.model.message(this.chat.id, id);
  }

  command(text: string): void {
    void this.send(text);
  }

  mention(username: string): void {
    this.host.openUsername(username);
  }

  /** A link to a chat, a mini app or an invoice (its payment sheet). An app opens in this chat,
   *  as Telegram opens a direct link's app where it was tapped: in a group, its init data names
   *  the group. */
  internalLink(path: string): boolean {
    const url = new URL(path, location.origin);
    const slug = invoiceSlug(url.pathname);
    if (slug) {
      void openInvoice(slug);
      return true;
    }
    const link = parseLink(url.pathname, url.search);
    if (!link) return false;
    if (link.app) {
      void openMiniApp(this.host.api, {
        bot_username: link.username,
        source: "link",
        chat_id: this.chat.id,
        short_name: link.app.short_name ?? undefined,
        start_param: link.app.start_param ?? undefined,
        mode: launchMode(link.app.mode),
        title: link.username,
      });
    } else {
      void this.host.openLink(link);
    }
    return true;
  }

  jumpTo(id: number): void {
    const el = this.rendered.get(id)?.el;
    if (!el) {
      toast("That message is further back in the history.");
      return;
    }
    el.scrollIntoView({ block: "center", behavior: "smooth" });
    el.classList.add("flash");
    window.setTimeout(() => el.classList.remove("flash"), 1200);
  }

  fileUrl(fileId: string): Promise<string> {
    let p = this.files.get(fileId);
    if (!p) {
      p = this.host.api.file(fileId).then((b) => URL.createObjectURL(b));
      this.files.set(fileId, p);
    }
    return p;
  }

  openPhoto(m: Message): void {
    void modal(m.text || "Photo", () => {
      const img = h("img", { alt: m.text || "Photo", class: "full" });
      void this.fileUrl(m.media!.file_id).then((u) => (img.src = u));
      return [img];
    }, "lightbox");
  }

  download(m: Message): void {
    void this.fileUrl(m.media!.file_id).then(
      (url) => {
        const a = h("a", { href: url, download: m.media?.file_name ?? "file" });
        document.body.append(a);
        a.click();
        a.remove();
      },
      (e) => toast(describe(e), "error"),
    );
  }

  async press(m: Message, b: InlineButton, el: HTMLButtonElement): Promise<void> {
    switch (b.action) {
      case "callback_data":
        break;
      case "copy_text":
        await navigator.clipboard?.writeText(b.value ?? "").catch(() => undefined);
        toast("Copied to the clipboard");
        return;
      case "web_app":
        await openMiniApp(this.host.api, { bot_username: m.from.username, source: "inline_button", chat_id: this.chat.id, message_id: m.message_id, url: b.value, title: m.from.display_name });
        return;
      case "login_url":
        if (b.value) window.open(b.value, "_blank", "noopener");
        return;
      case "pay":
        // The invoice's Pay button: the sheet; the outcome shows as a service message in the chat.
        if (m.invoice) await openInvoice(m.invoice.slug);
        else toast("This invoice can't be paid here.");
        return;
      case "switch_inline_query_current_chat":
        this.input.value = `@${m.from.username} ${b.value ?? ""}`;
        this.input.focus();
        return;
      default:
        toast("This kind of button is not supported yet.");
        return;
    }
    el.classList.add("busy");
    el.disabled = true;
    try {
      const answer = await this.host.api.pressButton(this.chat.id, m.message_id, b.value ?? "");
      if (answer.url) {
        if (await confirmBox(`Open ${answer.url}?`, "Open")) window.open(answer.url, "_blank", "noopener");
      } else if (answer.text && answer.show_alert) {
        await alertBox(answer.text, m.from.display_name);
      } else if (answer.text) {
        toast(answer.text);
      } else if (!answer.answered) {
        toast(`${m.from.display_name} did not answer.`);
      }
    } catch (e) {
      toast(describe(e), "error");
    } finally {
      el.classList.remove("busy");
      el.disabled = false;
    }
  }

  vote(m: Message, options: number[]): void {
    this.host.api.vote(this.chat.id, m.message_id, options).catch((e) => toast(describe(e), "error"));
  }

  react(m: Message, emoji: string): void {
    const mine = m.reactions?.find((r) => r.chosen)?.emoji;
    this.host.api.react(this.chat.id, m.message_id, mine === emoji ? [] : [emoji]).catch((e) => toast(describe(e), "error"));
  }

  menu(m: Message, x: number, y: number): void {
    const mine = m.from.id === this.meId;
    const canDelete = mine || this.chat.my_role === "creator" || this.chat.my_role === "administrator" || this.chat.type === "private";
    const head = h(
      "div",
      { class: "reaction-pick" },
      ...REACTIONS.map((e) =>
        h("button", { class: "reaction-option", "aria-label": `React ${e}`, onclick: () => { document.querySelector(".popup-menu")?.remove(); this.react(m, e); } }, e),
      ),
    );
    popupMenu(
      x,
      y,
      [
        ["Reply", () => this.startReply(m)],
        mine && !m.poll && !m.service && !m.forward_from ? ["Edit", () => this.startEdit(m)] : null,
        m.text && !m.protected ? ["Copy text", () => void navigator.clipboard?.writeText(m.text).then(() => toast("Copied"))] : null,
        canDelete ? ["Delete", () => void this.remove(m)] : null,
      ],
      head,
    );
  }

  // ---- composer -----------------------------------------------------------------------------

  private startReply(m: Message): void {
    this.editing = null;
    this.replyTo = m;
    this.renderBar();
    this.input.focus();
  }

  private startEdit(m: Message): void {
    this.replyTo = null;
    this.editing = m;
    this.input.value = m.text;
    this.autosize();
    this.renderBar();
    this.input.focus();
  }

  private cancelBar(): void {
    if (this.editing) this.input.value = "";
    this.editing = null;
    this.replyTo = null;
    this.renderBar();
    this.autosize();
  }

  private renderBar(): void {
    const m = this.editing ?? this.replyTo;
    this.bar.hidden = !m;
    if (!m) return fill(this.bar);
    fill(
      this.bar,
      h("span", { class: "bar-icon" }, icon(this.editing ? "edit" : "reply")),
      h("div", { class: "bar-text" }, h("strong", {}, this.editing ? "Edit message" : `Reply to ${m.from.display_name}`), h("span", {}, snippet(m))),
      h("button", { class: "icon", "aria-label": "Cancel", type: "button", onclick: () => this.cancelBar() }, icon("close", 20)),
    );
  }

  private async remove(m: Message): Promise<void> {
    if (!(await confirmBox("Delete this message for everyone?", "Delete", true))) return;
    try {
      await this.host.api.deleteMessage(this.chat.id, m.message_id);
    } catch (e) {
      toast(describe(e), "error");
    }
  }

  private autosize(): void {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  private onInput(): void {
    this.autosize();
    this.renderSuggestions();
    const now = Date.now();
    if (this.input.value && now - this.lastTyping > 4000) {
      this.lastTyping = now;
      this.host.api.action(this.chat.id, "typing").catch(() => undefined);
    }
  }

  private onKey(ev: KeyboardEvent): void {
    if (!this.suggestions.hidden) {
      const items = [...this.suggestions.querySelectorAll<HTMLElement>("li")];
      const i = items.findIndex((li) => li.getAttribute("aria-selected") === "true");
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        const next = (i + (ev.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        items.forEach((li, j) => li.setAttribute("aria-selected", String(j === next)));
        return;
      }
      if ((ev.key === "Tab" || ev.key === "Enter") && i >= 0) {
        ev.preventDefault();
        items[i].click();
        return;
      }
      if (ev.key === "Escape") {
        this.suggestions.hidden = true;
        return;
      }
    }
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      void this.submit();
    } else if (ev.key === "Escape" && (this.editing || this.replyTo)) {
      this.cancelBar();
    } else if (ev.key === "ArrowUp" && !this.input.value) {
      const last = this.host.model.histories.get(this.chat.id)?.messages.findLast((m) => m.from.id === this.meId && !m.poll && !m.service);
      if (last) {
        ev.preventDefault();
        this.startEdit(last);
      }
    }
  }

  private renderSuggestions(): void {
    const v = this.input.value;
    const cmds = this.bot?.commands ?? [];
    if (!v.startsWith("/") || /\s/.test(v) || !cmds.length) {
      this.suggestions.hidden = true;
      return;
    }
    const matches = cmds.filter((c) => `/${c.command}`.startsWith(v.toLowerCase()));
    this.suggestions.hidden = matches.length === 0;
    fill(
      this.suggestions,
      ...matches.map((c, i) => {
        const li = h("li", { role: "option", "aria-selected": String(i === 0) }, h("strong", {}, `/${c.command}`), h("span", {}, c.description));
        li.addEventListener("click", () => {
          this.input.value = "";
          this.suggestions.hidden = true;
          void this.send(`/${c.command}`);
        });
        return li;
      }),
    );
  }

  private async submit(): Promise<void> {
    const text = this.input.value.trim();
    if (!text || this.sending) return;
    if (this.editing) {
      const m = this.editing;
      this.sending = true;
      try {
        await this.host.api.editMessage(this.chat.id, m.message_id, text);
        this.cancelBar();
      } catch (e) {
        toast(describe(e), "error");
      } finally {
        this.sending = false;
      }
      return;
    }
    if (await this.send(text, this.replyTo?.message_id)) {
      this.input.value = "";
      this.autosize();
      this.suggestions.hidden = true;
      this.replyTo = null;
      this.renderBar();
    }
  }

  /** Sends a text message; true once it is stored. */
  private async send(text: string, replyTo?: number): Promise<boolean> {
    this.sending = true;
    try {
      await this.host.api.sendMessage(this.chat.id, text, replyTo);
      this.lastTyping = 0;
      this.scrollToBottom();
      return true;
    } catch (e) {
      toast(describe(e), "error");
      return false;
    } finally {
      this.sending = false;
    }
  }

  private async attach(f: File): Promise<void> {
    const image = /^image\/(jpeg|png|webp|gif)$/.test(f.type) && f.size <= 10 * 1024 * 1024;
    let asPhoto = image;
    const caption = h("input", { name: "caption", placeholder: "Add a caption", "aria-label": "Caption", autocomplete: "off" });
    const ok = await modal<boolean>(`Send ${image ? "photo" : "file"}`, (close) => {
      const preview = image ? h("img", { class: "preview", alt: f.name, src: URL.createObjectURL(f) }) : h("p", {}, `📄 ${f.name}`);
      const compress = h("input", { type: "checkbox", id: "as-photo", checked: image });
      compress.addEventListener("change", () => (asPhoto = compress.checked));
      const form = h(
        "form",
        { class: "form" },
        preview,
        image && h("div", { class: "check" }, compress, h("label", { for: "as-photo" }, "Send as a photo")),
        caption,
        h("div", { class: "actions" }, h("button", { type: "button", onclick: () => close(false) }, "Cancel"), h("button", { class: "primary", type: "submit" }, "Send")),
      );
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        close(true);
      });
      return [form];
    });
    if (!ok) return;
    const kind = asPhoto ? "photo" : "document";
    this.host.api.action(this.chat.id, asPhoto ? "upload_photo" : "upload_document").catch(() => undefined);
    try {
      await this.host.api.sendFile(this.chat.id, f, kind, caption.value, this.replyTo?.message_id);
      this.replyTo = null;
      this.renderBar();
      this.scrollToBottom();
    } catch (e) {
      toast(describe(e), "error");
    }
  }

  /** The composer's bot parts: START, blocked, menu button, reply keyboard, force reply. */
  private renderComposer(): void {
    const history = this.host.model.histories.get(this.chat.id);
    const form = this.composer.querySelector<HTMLElement>(".compose-row")!;
    let cover = this.composer.querySelector<HTMLElement>(".compose-cover");
    cover?.remove();
    cover = null;
    if (this.blocked) {
      cover = h(
        "div",
        { class: "compose-cover" },
        this.peerBot
          ? h("button", { class: "wide", onclick: () => void this.restart() }, "Restart bot")
          : h("button", { class: "wide", onclick: () => void this.setBlocked(false) }, "Unblock"),
      );
    } else if (this.peerBot && history && (this.startPayload !== null || (history.complete && history.messages.length === 0))) {
      cover = h("div", { class: "compose-cover" }, h("button", { class: "wide primary start", onclick: () => void this.start() }, "Start"));
    }
    form.hidden = !!cover;
    if (cover) this.composer.insertBefore(cover, this.keyboard);

    fill(this.leftButtons);
    if (this.bot) {
      const mb = this.bot.menu_button;
      if (mb.type === "web_app") {
        prewarm(mb.url);
        const bot = this.bot.user;
        this.leftButtons.append(
          h("button", { class: "menu-btn", type: "button", onclick: () => void openMiniApp(this.host.api, { bot_username: bot.username, source: "menu_button", chat_id: this.chat.id, url: mb.url, title: mb.text }) }, mb.text),
        );
      } else if (this.bot.commands.length) {
        const btn = h("button", { class: "menu-btn", type: "button", "aria-label": "Bot commands", "aria-haspopup": "menu" }, icon("commands", 20), "Menu");
        btn.addEventListener("click", () => {
          const r = btn.getBoundingClientRect();
          popupMenu(r.left, r.top - 8 - 40 * (this.bot?.commands.length ?? 0), (this.bot?.commands ?? []).map((c) => [`/${c.command} — ${c.description}`, () => void this.send(`/${c.command}`)]));
        });
        this.leftButtons.append(btn);
      }
    }

    // The newest keyboard message from the bot decides the reply keyboard and force reply.
    const fromOthers = history?.messages.filter((m) => m.from.id !== this.meId) ?? [];
    const kbMsg = fromOthers.findLast((m) => m.reply_markup && m.reply_markup.type !== "inline_keyboard");
    const markup = kbMsg?.reply_markup;
    this.input.placeholder = "Message";
    fill(this.keyboard);
    this.keyboard.hidden = true;
    const toggle = this.composer.querySelector(".kb-toggle");
    toggle?.remove();
    if (!kbMsg || !markup) return;
    if (markup.type === "force_reply") {
      const mineAfter = history?.messages.some((m) => m.from.id === this.meId && m.message_id > kbMsg.message_id);
      if (!mineAfter && this.replyTo?.message_id !== kbMsg.message_id && !this.editing) {
        this.replyTo = kbMsg;
        this.renderBar();
      }
      if (markup.placeholder) this.input.placeholder = markup.placeholder;
      return;
    }
    if (markup.type !== "keyboard") return;
    if (markup.placeholder) this.input.placeholder = markup.placeholder;
    const shown = this.keyboardHidden !== kbMsg.message_id;
    const tg = h("button", { class: "icon kb-toggle", type: "button", "aria-label": shown ? "Hide the bot keyboard" : "Show the bot keyboard", "aria-pressed": String(shown) }, icon("keyboard"));
    tg.addEventListener("click", () => {
      this.keyboardHidden = shown ? kbMsg.message_id : null;
      this.renderComposer();
    });
    form.insertBefore(tg, this.input.nextSibling);
    if (!shown) return;
    this.keyboard.hidden = false;
    this.keyboard.classList.toggle("resized", markup.resize);
    for (const row of markup.rows) {
      this.keyboard.append(
        h("div", { class: "kb-row" }, ...row.map((b) => {
          if (b.request === "web_app") prewarm(b.value);
          return h("button", { class: "kb-btn", type: "button", onclick: () => void this.keyboardPress(b, kbMsg, markup.one_time) }, b.text);
        })),
      );
    }
  }

  private async keyboardPress(b: KeyboardButton, kbMsg: Message, oneTime: boolean): Promise<void> {
    if (b.request) {
      if (b.request === "web_app" && b.value) {
        await openMiniApp(this.host.api, { bot_username: kbMsg.from.username, source: "keyboard_button", chat_id: this.chat.id, message_id: kbMsg.message_id, url: b.value, title: b.text });
      } else {
        toast(`Sharing a ${b.request} is not supported in this browser client yet.`);
      }
      return;
    }
    if (await this.send(b.text)) {
      if (oneTime) {
        this.keyboardHidden = kbMsg.message_id;
        this.renderComposer();
      }
    }
  }

  private async start(): Promise<void> {
    const username = this.chat.peer?.username;
    if (!username) return;
    const payload = this.startPayload ?? undefined;
    this.startPayload = null;
    try {
      await this.host.api.startBot(username, payload);
      this.blocked = false;
      this.renderComposer();
      this.scrollToBottom();
      this.input.focus();
    } catch (e) {
      toast(describe(e), "error");
    }
  }

  private async restart(): Promise<void> {
    await this.start();
  }
}
