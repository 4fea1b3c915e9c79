// What the client knows: the chat list and the loaded part of each chat's history, kept current by
// the live stream. Applying a frame twice, or a frame the loaded state already reflects, changes
// nothing, so the list fetched after the stream opened and the frames that raced it can both apply.

import type { CallbackAnswer, Chat, ChatListItem, Frame, Message, Payment, User } from "./api.js";

export interface History {
  /** Loaded messages, ascending by id, without gaps between the first and the last. */
  messages: Message[];
  /** The first message of the chat is loaded. */
  complete: boolean;
}

export type Change =
  | { kind: "chats" }
  | { kind: "history"; chatId: number }
  | { kind: "message"; chatId: number; messageId: number }
  | { kind: "action"; chatId: number }
  | { kind: "callback"; answer: CallbackAnswer }
  /** One of the person's payments changed state (the payment sheet and the wallet listen). */
  | { kind: "payment"; payment: Payment }
  | { kind: "removed"; chatId: number };

export interface Typing {
  user: number;
  action: string;
  until: number;
}

/** How long a chat action shows without a renewal, as Telegram's clients do. */
export const ACTION_MS = 6000;

export class Model {
  readonly chats = new Map<number, ChatListItem>();
  readonly histories = new Map<number, History>();
  /** New messages of chats whose first history page is still loading. */
  private readonly arriving = new Map<number, Message[]>();
  readonly typing = new Map<number, Typing[]>();
  /** The chat list has been loaded once. */
  loaded = false;
  private readonly listeners = new Set<(c: Change) => void>();

  constructor(public me: User) {}

  on(listener: (c: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(c: Change): void {
    for (const l of this.listeners) l(c);
  }

  /** The chat list, newest activity first. */
  sortedChats(): ChatListItem[] {
    const at = (i: ChatListItem) => i.last_message?.date ?? i.chat.created_at;
    return [...this.chats.values()].sort((a, b) => at(b) - at(a) || b.chat.id - a.chat.id);
  }

  setChats(items: ChatListItem[]): void {
    this.chats.clear();
    for (const i of items) this.chats.set(i.chat.id, i);
    this.loaded = true;
    this.emit({ kind: "chats" });
  }

  putChat(chat: Chat): void {
    const item = this.chats.get(chat.id);
    if (item) {
      item.chat = { ...chat, last_message_id: Math.max(chat.last_message_id, item.chat.last_message_id) };
    } else {
      this.chats.set(chat.id, { chat, unread_count: 0 });
    }
    this.emit({ kind: "chats" });
  }

  /** A chat's first page of history is on its way: new messages that arrive before it (the page
   *  was read before they existed) are kept and joined to it. */
  loadingHistory(chatId: number): void {
    if (!this.histories.has(chatId) && !this.arriving.has(chatId)) this.arriving.set(chatId, []);
  }

  /** Adds a page of history next to what is loaded. */
  addHistory(chatId: number, page: Message[], complete: boolean): void {
    const h = this.histories.get(chatId) ?? { messages: [], complete: false };
    const byId = new Map(h.messages.map((m) => [m.message_id, m]));
    const early = this.arriving.get(chatId) ?? [];
    this.arriving.delete(chatId);
    for (const m of [...page, ...early]) if (!byId.has(m.message_id)) byId.set(m.message_id, m);
    h.messages = [...byId.values()].sort((a, b) => a.message_id - b.message_id);
    h.complete ||= complete;
    this.histories.set(chatId, h);
    this.emit({ kind: "history", chatId });
  }

  message(chatId: number, id: number): Message | undefined {
    return this.histories.get(chatId)?.messages.find((m) => m.message_id === id);
  }

  apply(frame: Frame): void {
    switch (frame.type) {
      case "hello":
        return;
      case "message_new":
        return this.messageNew(frame.message);
      case "message_edited":
        return this.replaceMessage(frame.message);
      case "message_deleted": {
        const h = this.histories.get(frame.chat_id);
        if (h) {
          h.messages = h.messages.filter((m) => m.message_id !== frame.message_id);
          this.emit({ kind: "history", chatId: frame.chat_id });
        }
        const item = this.chats.get(frame.chat_id);
        if (item?.last_message?.message_id === frame.message_id) {
          item.last_message = h?.messages.at(-1);
          this.emit({ kind: "chats" });
        }
        return;
      }
      case "chat_updated":
        return this.putChat(frame.chat);
      case "chat_removed":
        this.chats.delete(frame.chat_id);
        this.histories.delete(frame.chat_id);
        this.emit({ kind: "removed", chatId: frame.chat_id });
        this.emit({ kind: "chats" });
        return;
      case "read_inbox":
        return this.readInbox(frame.chat_id, frame.max_id);
      case "read_outbox": {
        const item = this.chats.get(frame.chat_id);
        if (item && frame.max_id > item.chat.read_outbox_max_id) {
          item.chat.read_outbox_max_id = frame.max_id;
          this.emit({ kind: "chats" });
          this.emit({ kind: "history", chatId: frame.chat_id });
        }
        return;
      }
      case "callback_answer":
        return this.emit({ kind: "callback", answer: frame.answer });
      case "poll_updated":
        return this.patchMessage(frame.chat_id, frame.message_id, (m) => (m.poll = frame.poll));
      case "reactions_updated":
        return this.patchMessage(frame.chat_id, frame.message_id, (m) => (m.reactions = frame.reactions));
      case "payment_updated":
        return this.emit({ kind: "payment", payment: frame.payment });
      case "chat_action": {
        if (frame.user_id === this.me.id) return;
        const list = (this.typing.get(frame.chat_id) ?? []).filter((t) => t.user !== frame.user_id);
        if (frame.action !== "cancel") list.push({ user: frame.user_id, action: frame.action, until: Date.now() + ACTION_MS });
        this.typing.set(frame.chat_id, list);
        this.emit({ kind: "action", chatId: frame.chat_id });
        return;
      }
    }
  }

  /** Who is doing what in a chat now. */
  actions(chatId: number): Typing[] {
    const now = Date.now();
    const list = (this.typing.get(chatId) ?? []).filter((t) => t.until > now);
    this.typing.set(chatId, list);
    return list;
  }

  private messageNew(m: Message): void {
    const item = this.chats.get(m.chat_id);
    // Their message arrived: they stopped typing.
    const typing = this.typing.get(m.chat_id);
    if (typing?.some((t) => t.user === m.from.id)) {
      this.typing.set(m.chat_id, typing.filter((t) => t.user !== m.from.id));
      this.emit({ kind: "action", chatId: m.chat_id });
    }
    if (item) {
      const fresh = m.message_id > item.chat.last_message_id;
      if (fresh) item.chat.last_message_id = m.message_id;
      if (!item.last_message || m.message_id >= item.last_message.message_id) item.last_message = m;
      if (fresh && m.from.id !== this.me.id && m.message_id > item.chat.read_inbox_max_id) item.unread_count += 1;
      this.emit({ kind: "chats" });
    }
    const h = this.histories.get(m.chat_id);
    // A loaded history always reaches the present (it is loaded from the newest page, and the
    // stream misses nothing), so a new message extends it.
    if (h && !h.messages.some((x) => x.message_id === m.message_id)) {
      h.messages.push(m);
      h.messages.sort((a, b) => a.message_id - b.message_id);
      this.emit({ kind: "history", chatId: m.chat_id });
    } else if (!h) {
      this.arriving.get(m.chat_id)?.push(m);
    }
  }

  private replaceMessage(m: Message): void {
    this.patchMessage(m.chat_id, m.message_id, (old) => Object.assign(old, m, { reactions: m.reactions ?? old.reactions }));
    const item = this.chats.get(m.chat_id);
    if (item?.last_message?.message_id === m.message_id) {
      item.last_message = m;
      this.emit({ kind: "chats" });
    }
  }

  private patchMessage(chatId: number, id: number, f: (m: Message) => void): void {
    const m = this.message(chatId, id);
    if (!m) return;
    f(m);
    this.emit({ kind: "message", chatId, messageId: id });
  }

  private readInbox(chatId: number, maxId: number): void {
    const item = this.chats.get(chatId);
    if (!item || maxId <= item.chat.read_inbox_max_id) return;
    const h = this.histories.get(chatId);
    const newlyRead = h?.messages.filter(
      (m) => m.message_id > item.chat.read_inbox_max_id && m.message_id <= maxId && m.from.id !== this.me.id,
    ).length;
    item.chat.read_inbox_max_id = maxId;
    if (maxId >= item.chat.last_message_id) item.unread_count = 0;
    else if (newlyRead !== undefined) item.unread_count = Math.max(0, item.unread_count - newlyRead);
    this.emit({ kind: "chats" });
  }
}
