// The signed-in client: the chat list beside the open chat (one at a time on a narrow screen),
// the live stream that keeps both current, and the account and group dialogs.

import { type Api, ApiError, type Chat, type ChatListItem, type User } from "../api.js";
import { Live, type LiveStatus } from "../live.js";
import { Model } from "../model.js";
import { avatar, fill, h, shortDate } from "../dom.js";
import { icon } from "../icons.js";
import { snippet } from "../text.js";
import { ChatView, describe } from "./chat.js";
import { confirmBox, formBox, modal, popupMenu, toast } from "./dialogs.js";
import { invoiceSlug, type Link, type Opening, parseLink } from "../links.js";
import { openInvoice, setPaymentsHost } from "./payments.js";
import { openWallet } from "./wallet.js";
import { launchMode, noteNewMessage, onTelegramLink, openMiniApp, setHostUser } from "./miniapp.js";
import { setTheme, themeChoice, type ThemeChoice } from "./theme.js";

const USERNAME = /^@?([a-zA-Z][a-zA-Z0-9_]{2,31})$/;

export class App {
  readonly model: Model;
  private readonly root: HTMLElement;
  private readonly list: HTMLElement;
  private readonly search: HTMLInputElement;
  private readonly status: HTMLElement;
  private readonly main: HTMLElement;
  private live: Live | null = null;
  private view: ChatView | null = null;
  private found: User | null = null;
  private searchSeq = 0;

  constructor(
    readonly api: Api,
    me: User,
    root: HTMLElement,
    private readonly onSignedOut: () => void,
    private pendingOpening: Opening | null,
    /** The chat list, when its request was started before the account was known. */
    firstList: ReturnType<Api["chats"]> | null = null,
  ) {
    this.model = new Model(me);
    setHostUser(me);
    setPaymentsHost(api, this.model);
    // A mini app's `openTelegramLink` (`https://t.me/<path>`) opens the chat, app or invoice it
    // names here.
    onTelegramLink((path) => {
      const url = new URL(path, location.origin);
      const slug = invoiceSlug(url.pathname);
      if (slug) {
        void openInvoice(slug);
        return;
      }
      const link = parseLink(url.pathname, url.search);
      if (link) void this.openLink(link);
    });
    this.search = h("input", { type: "search", class: "search", placeholder: "Search or @username", "aria-label": "Search chats and people", autocomplete: "off", spellcheck: "false" });
    this.search.addEventListener("input", () => this.renderList());
    this.search.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") this.list.querySelector<HTMLButtonElement>("button.chat-item")?.click();
      if (ev.key === "Escape") {
        this.search.value = "";
        this.renderList();
      }
    });
    const menu = h("button", { class: "icon", "aria-label": "Menu", title: "Menu", "aria-haspopup": "menu" }, icon("menu"));
    menu.addEventListener("click", () => {
      const r = menu.getBoundingClientRect();
      this.mainMenu(r.left, r.bottom + 4);
    });
    const compose = h("button", { class: "icon", "aria-label": "New group", title: "New group", onclick: () => void this.newGroup() }, icon("compose"));
    this.status = h("div", { class: "live-status", role: "status", hidden: true });
    this.list = h("nav", { class: "chat-list", "aria-label": "Chats" });
    this.main = h("main", { class: "main" }, h("div", { class: "placeholder" }, h("p", {}, "Select a chat to start messaging")));
    this.root = h(
      "div",
      { class: "app" },
      h("aside", { class: "sidebar" }, h("header", { class: "side-header" }, menu, this.search, compose), this.status, this.list),
      this.main,
    );
    fill(root, this.root);
    this.list.append(h("div", { class: "loading" }));
    this.model.on((c) => {
      if (c.kind === "chats") this.renderList();
      if (c.kind === "removed" && this.view?.chat.id === c.chatId) this.closeChat();
    });
    window.addEventListener("hashchange", this.route);
    void this.loadChats(firstList);
  }

  private async stillSignedIn(): Promise<boolean> {
    try {
      await this.api.me();
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        this.signedOut();
        return false;
      }
      return true;
    }
  }

  private onStatus(s: LiveStatus): void {
    this.status.hidden = s === "online";
    this.status.textContent = s === "offline" ? "Waiting for network…" : "Connecting…";
    this.root.dataset.live = s;
  }

  /** Loads the chat list, then opens the live stream where the list is, so nothing falls between. */
  private async loadChats(first: ReturnType<Api["chats"]> | null = null): Promise<void> {
    try {
      const { items, cursor } = await (first ?? this.api.chats());
      this.model.setChats(items);
      this.live = new Live(this.api.token ?? "", cursor, (f) => {
        this.model.apply(f);
        if (f.type === "message_new") noteNewMessage(f.message);
      }, (s) => this.onStatus(s), () => this.stillSignedIn());
      this.live.start();
    } catch (e) {
      fill(this.list, h("div", { class: "empty" }, h("p", {}, describe(e)), h("button", { onclick: () => void this.loadChats() }, "Try again")));
      return;
    }
    const opening = this.pendingOpening;
    this.pendingOpening = null;
    if (opening && "link" in opening) await this.openLink(opening.link);
    else if (opening) {
      // An invoice link opened in a tab of its own: the sheet opens over the chat list.
      history.replaceState(null, "", "/");
      this.route();
      await openInvoice(opening.invoice);
    } else this.route();
  }

  private readonly route = () => {
    const id = Number(location.hash.slice(1));
    if (!location.hash || !Number.isFinite(id) || id === 0) {
      if (this.view) this.closeChat(false);
      return;
    }
    if (this.view?.chat.id === id) return;
    const item = this.model.chats.get(id);
    if (item) this.show(item.chat);
    else
      this.api.chat(id).then(
        (c) => {
          this.model.putChat(c);
          this.show(c);
        },
        (e) => toast(describe(e), "error"),
      );
  };

  openChat(id: number): void {
    if (location.hash !== `#${id}`) location.hash = `#${id}`;
    else this.route();
  }

  private show(chat: Chat, startPayload: string | null = null): void {
    this.view?.destroy();
    this.view = new ChatView(this, chat, startPayload);
    fill(this.main, this.view.el);
    this.root.classList.add("chat-open");
    this.renderList();
    if (window.matchMedia("(pointer: fine)").matches) this.view.focus();
  }

  private closeChat(updateHash = true): void {
    this.view?.destroy();
    this.view = null;
    fill(this.main, h("div", { class: "placeholder" }, h("p", {}, "Select a chat to start messaging")));
    this.root.classList.remove("chat-open");
    if (updateHash && location.hash) history.pushState(null, "", location.pathname + location.search);
    this.renderList();
  }

  back(): void {
    this.closeChat();
    this.list.querySelector<HTMLElement>(".chat-item")?.focus();
  }

  openUsername(username: string): void {
    void this.openLink({ username, start: null });
  }

  /** Opens the chat a link names; a bot's link with `start` shows START with that payload. */
  async openLink(link: Link): Promise<void> {
    try {
      const chat = await this.api.openPrivate(link.username);
      this.model.putChat(chat);
      if (link.app && chat.peer?.is_bot) {
        // The app opens over the bot's chat, as Telegram opens a direct link's app.
        history.replaceState(null, "", "/");
        this.openChat(chat.id);
        const bot = chat.peer;
        await openMiniApp(this.api, {
          bot_username: bot.username,
          source: "link",
          chat_id: chat.id,
          short_name: link.app.short_name ?? undefined,
          start_param: link.app.start_param ?? undefined,
          mode: launchMode(link.app.mode),
          title: bot.display_name,
        });
      } else if (link.start !== null && chat.peer?.is_bot) {
        this.show(chat, link.start);
        history.replaceState(null, "", `/#${chat.id}`);
      } else {
        history.replaceState(null, "", "/");
        this.openChat(chat.id);
      }
    } catch (e) {
      history.replaceState(null, "", "/");
      toast(e instanceof ApiError && e.status === 404 ? `There is no @${link.username} here.` : describe(e), "error");
    }
  }

  // ---- chat list ----------------------------------------------------------------------------

  private renderList(): void {
    if (!this.model.loaded) return;
    const q = this.search.value.trim().toLowerCase().replace(/^@/, "");
    const items = this.model.sortedChats().filter((i) => !q || i.chat.title.toLowerCase().includes(q) || (i.chat.peer?.username.toLowerCase().includes(q) ?? false));
    const nodes: Node[] = items.map((i) => this.chatItem(i));
    const m = USERNAME.exec(this.search.value.trim());
    if (m && !items.some((i) => i.chat.peer?.username.toLowerCase() === m[1].toLowerCase())) {
      nodes.push(h("h3", { class: "list-heading" }, "People and bots"));
      if (this.found && this.found.username.toLowerCase() === m[1].toLowerCase()) {
        const u = this.found;
        nodes.push(
          h("button", { class: "chat-item", onclick: () => { this.search.value = ""; this.openUsername(u.username); } }, avatar(u.id, u.display_name), h("span", { class: "chat-main" }, h("span", { class: "chat-top" }, h("strong", { class: "chat-name" }, u.display_name)), h("span", { class: "chat-last" }, `@${u.username}${u.is_bot ? " · bot" : ""}`))),
        );
      } else {
        nodes.push(h("p", { class: "muted pad" }, `Looking for @${m[1]}…`));
        this.lookUp(m[1]);
      }
    }
    if (!nodes.length) {
      nodes.push(
        h("div", { class: "empty" }, q ? h("p", {}, `No chats match “${q}”.`) : h("p", {}, "No chats yet. Search for someone's @username to start one, or create a group with ✎."),),
      );
    }
    this.list.replaceChildren(...nodes);
  }

  private lookUp(username: string): void {
    const seq = ++this.searchSeq;
    this.api.user(username).then(
      (u) => {
        if (seq !== this.searchSeq) return;
        this.found = u;
        this.renderList();
      },
      () => {
        if (seq !== this.searchSeq) return;
        const p = this.list.querySelector(".pad");
        if (p) p.textContent = `No one is called @${username}.`;
      },
    );
  }

  private chatItem(i: ChatListItem): HTMLElement {
    const c = i.chat;
    const last = i.last_message;
    const lastText = last ? `${c.type === "group" && last.from.id !== this.model.me.id ? `${last.from.display_name}: ` : last.from.id === this.model.me.id && !last.service ? "You: " : ""}${snippet(last)}` : c.peer?.is_bot ? "bot" : "";
    const active = this.view?.chat.id === c.id;
    return h(
      "button",
      { class: `chat-item${active ? " active" : ""}`, "aria-current": active ? "true" : undefined, "data-chat": c.id, onclick: () => { this.search.value = ""; this.openChat(c.id); } },
      avatar(c.id, c.title),
      h(
        "span",
        { class: "chat-main" },
        h("span", { class: "chat-top" }, h("strong", { class: "chat-name" }, c.title), h("span", { class: "chat-time" }, last ? shortDate(last.date) : "")),
        h("span", { class: "chat-bottom" }, h("span", { class: "chat-last" }, lastText), i.unread_count > 0 ? h("span", { class: "badge", "aria-label": `${i.unread_count} unread` }, i.unread_count > 999 ? "999+" : String(i.unread_count)) : null),
      ),
    );
  }

  // ---- menus and dialogs --------------------------------------------------------------------

  private mainMenu(x: number, y: number): void {
    const t = themeChoice();
    const theme = (c: ThemeChoice, label: string): [string, () => void] => [`${t === c ? "● " : "○ "}${label}`, () => setTheme(c)];
    popupMenu(
      x,
      y,
      [
        ["New group", () => void this.newGroup()],
        ["Profile", () => void this.profile()],
        ["Stars", () => void openWallet(this.api, this.model)],
        theme("system", "Theme: system"),
        theme("light", "Theme: light"),
        theme("dark", "Theme: dark"),
        ["Log out", () => void this.logout()],
      ],
      h("div", { class: "menu-head" }, avatar(this.model.me.id, this.model.me.display_name), h("span", {}, h("strong", {}, this.model.me.display_name), h("small", {}, `@${this.model.me.username}`))),
    );
  }

  private async newGroup(): Promise<void> {
    await formBox(
      "New group",
      [
        { name: "title", label: "Group name", required: true },
        { name: "members", label: "Members", placeholder: "@alice, @carol" },
      ],
      "Create",
      async (v) => {
        const members = v.members.split(/[\s,]+/).map((s) => s.replace(/^@/, "")).filter(Boolean);
        const chat = await this.api.createGroup(v.title.trim(), members);
        this.model.putChat(chat);
        this.openChat(chat.id);
      },
    );
  }

  private async profile(): Promise<void> {
    const me = this.model.me;
    await formBox(
      "Profile",
      [
        { name: "display_name", label: "Your name", value: me.display_name, required: true },
        {
          name: "language_code",
          label: "Language",
          value: me.language_code ?? "",
          options: [["", "Not set"], ["en", "English"], ["de", "Deutsch"], ["es", "Español"], ["fr", "Français"], ["it", "Italiano"], ["pt", "Português"], ["ru", "Русский"], ["uk", "Українська"]],
        },
      ],
      "Save",
      async (v) => {
        this.model.me = await this.api.updateMe({ display_name: v.display_name.trim(), language_code: v.language_code || null });
        setHostUser(this.model.me);
        toast("Profile saved");
      },
      [h("p", { class: "muted" }, `Username: @${me.username}`)],
    );
  }

  groupInfo(chat: Chat): void {
    const admin = chat.my_role === "creator" || chat.my_role === "administrator";
    void modal<boolean>("Group info", (close) => {
      const members = h("ul", { class: "members" }, h("li", { class: "loading" }));
      const title = h("input", { name: "title", value: chat.title, "aria-label": "Group name", disabled: !admin });
      const error = h("p", { class: "form-error", role: "alert" });
      const render = async () => {
        try {
          const list = await this.api.members(chat.id);
          fill(
            members,
            ...list.map((m) =>
              h(
                "li",
                {},
                avatar(m.user.id, m.user.display_name, true),
                h("span", { class: "member-name" }, m.user.display_name, h("small", {}, ` @${m.user.username}${m.user.is_bot ? " · bot" : ""}`)),
                m.role !== "member" ? h("small", { class: "role" }, m.role === "creator" ? "owner" : "admin") : null,
                admin && m.user.id !== this.model.me.id && m.role !== "creator"
                  ? h("button", { class: "icon small", "aria-label": `Remove ${m.user.display_name}`, onclick: async () => { try { await this.api.removeMember(chat.id, m.user.id); await render(); } catch (e) { error.textContent = describe(e); } } }, "✕")
                  : null,
              ),
            ),
          );
        } catch (e) {
          error.textContent = describe(e);
        }
      };
      void render();
      const add = h("input", { name: "add", placeholder: "@username", "aria-label": "Add a member", autocomplete: "off" });
      const addForm = h("form", { class: "inline-form" }, add, h("button", { type: "submit" }, "Add"));
      addForm.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const names = add.value.split(/[\s,]+/).map((s) => s.replace(/^@/, "")).filter(Boolean);
        if (!names.length) return;
        try {
          await this.api.addMembers(chat.id, names);
          add.value = "";
          error.textContent = "";
          await render();
        } catch (e) {
          error.textContent = describe(e);
        }
      });
      const titleForm = h("form", { class: "inline-form" }, title, admin ? h("button", { type: "submit" }, "Rename") : null);
      titleForm.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        try {
          this.model.putChat(await this.api.setTitle(chat.id, title.value.trim()));
          toast("Group renamed");
        } catch (e) {
          error.textContent = describe(e);
        }
      });
      const leave = h("button", { class: "danger", onclick: async () => {
        if (!(await confirmBox(`Leave ${chat.title}?`, "Leave", true))) return;
        try {
          await this.api.removeMember(chat.id, this.model.me.id);
          close(true);
        } catch (e) {
          error.textContent = describe(e);
        }
      } }, "Leave group");
      return [titleForm, h("h3", {}, `${chat.member_count ?? ""} members`), members, admin ? addForm : null, error, h("div", { class: "actions" }, leave, h("button", { class: "primary", onclick: () => close(null) }, "Done"))].filter((n) => n !== null);
    });
  }

  private async logout(): Promise<void> {
    try {
      await this.api.logout();
    } catch {
      // The token is forgotten here either way.
    }
    this.signedOut();
  }

  private signedOut(): void {
    this.live?.stop();
    this.view?.destroy();
    window.removeEventListener("hashchange", this.route);
    this.onSignedOut();
  }
}
