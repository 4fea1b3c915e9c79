// The client API under /api/v1: its wire types (mirroring crates/protocol) and one typed call per route.

export interface User {
  id: number;
  username: string;
  display_name: string;
  is_bot: boolean;
  language_code?: string;
  phone_number?: string;
}

export interface Chat {
  id: number;
  type: "private" | "group";
  title: string;
  peer?: User;
  member_count?: number;
  my_role?: string;
  last_message_id: number;
  read_inbox_max_id: number;
  read_outbox_max_id: number;
  created_at: number;
}

export interface ChatListItem {
  chat: Chat;
  last_message?: Message;
  unread_count: number;
}

export interface Entity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  language?: string;
  user_id?: number;
  custom_emoji_id?: string;
}

export interface InlineButton {
  text: string;
  action: string;
  value?: string;
}

export interface KeyboardButton {
  text: string;
  request?: string;
  value?: string;
}

export type ReplyMarkup =
  | { type: "inline_keyboard"; rows: InlineButton[][] }
  | {
      type: "keyboard";
      rows: KeyboardButton[][];
      is_persistent: boolean;
      resize: boolean;
      one_time: boolean;
      placeholder?: string;
      selective: boolean;
    }
  | { type: "remove_keyboard"; selective: boolean }
  | { type: "force_reply"; placeholder?: string; selective: boolean };

export interface Media {
  kind: "photo" | "document";
  file_id: string;
  size: number;
  mime_type?: string;
  file_name?: string;
  width?: number;
  height?: number;
}

export interface PollOption {
  text: string;
  voter_count: number;
}

export interface Poll {
  id: string;
  question: string;
  options: PollOption[];
  total_voter_count: number;
  is_closed: boolean;
  is_anonymous: boolean;
  type: string;
  allows_multiple_answers: boolean;
  my_vote: number[];
  correct_option_id?: number;
  explanation?: string;
}

export interface Reaction {
  emoji: string;
  count: number;
  chosen: boolean;
}

export interface Message {
  message_id: number;
  chat_id: number;
  from: User;
  date: number;
  text: string;
  entities?: Entity[];
  reply_to_message_id?: number;
  edit_date?: number;
  reply_markup?: ReplyMarkup;
  media?: Media;
  forward_from?: User;
  forward_date?: number;
  protected?: boolean;
  service?:
    | { type: "pinned_message"; message_id: number }
    | { type: "web_app_data"; button_text: string }
    | { type: "write_access_allowed"; web_app_name?: string }
    | { type: "contact"; phone_number: string; first_name: string; last_name?: string; user_id?: number }
    | { type: "successful_payment"; receipt: Receipt }
    | { type: "refunded_payment"; receipt: Receipt };
  poll?: Poll;
  reactions?: Reaction[];
  /** Sent through this bot (a mini app's answer). */
  via_bot?: User;
  /** An invoice the bot sent: its Pay button opens the payment sheet for `slug`. */
  invoice?: InvoiceSummary;
}

// ---- payments ----

export interface InvoiceSummary {
  slug: string;
  title: string;
  description: string;
  /** `XTR` for Stars. */
  currency: string;
  /** In the currency's smallest units (whole Stars for `XTR`). */
  total_amount: number;
}

/** A payment as its service message reports it. */
export interface Receipt {
  currency: string;
  total_amount: number;
  charge_id: string;
  subscription_expiration_date?: number;
  is_recurring?: boolean;
  /** The first payment of a subscription (not a renewal), when the server says so. */
  is_first_recurring?: boolean;
  /** The invoice's title, when the server says so. */
  title?: string;
}

export interface LabeledPrice {
  label: string;
  amount: number;
}

/** An invoice as the payment sheet shows it, with where the viewer stands. */
export interface Invoice {
  slug: string;
  bot: User;
  title: string;
  description: string;
  photo_url?: string;
  currency: string;
  prices: LabeledPrice[];
  /** Without shipping or tip. */
  total_amount: number;
  /** Paid by card: the sheet asks for a card number. */
  card: boolean;
  max_tip_amount: number;
  suggested_tip_amounts: number[];
  need_name: boolean;
  need_phone_number: boolean;
  need_email: boolean;
  need_shipping_address: boolean;
  /** The price depends on the address: shipping options are asked for first. */
  is_flexible: boolean;
  /** Seconds between renewals, for a subscription. */
  subscription_period?: number;
  /** The viewer paid this invoice message already. */
  paid?: Payment;
  /** The viewer's subscription bought through this link. */
  subscription?: Subscription;
  /** The viewer's Stars. */
  balance: number;
}

export type PaymentState = "pre_checkout" | "approved" | "paid" | "declined" | "cancelled" | "failed" | "refunded";
/** What a mini app's `invoice_closed` reports. */
export type InvoiceStatus = "paid" | "cancelled" | "failed" | "pending";

export interface Payment {
  id: number;
  invoice_slug: string;
  bot_id: number;
  currency: string;
  total_amount: number;
  state: PaymentState;
  status: InvoiceStatus;
  /** Why it was declined or failed, in the bot's or the provider's words. */
  error?: string;
  charge_id: string;
  date: number;
  /** The invoice's title, when the server says so. */
  title?: string;
}

export interface Subscription {
  id: number;
  bot_id: number;
  title: string;
  amount: number;
  period: number;
  expires_at: number;
  /** It renews at `expires_at`. */
  renews: boolean;
  canceled_by_user: boolean;
  canceled_by_bot: boolean;
  /** A renewal found too few Stars. */
  lapsed: boolean;
}

export interface ShippingAddress {
  country_code: string;
  state: string;
  city: string;
  street_line1: string;
  street_line2: string;
  post_code: string;
}

export interface ShippingOption {
  id: string;
  title: string;
  prices: LabeledPrice[];
}

export interface OrderInfo {
  name?: string;
  phone_number?: string;
  email?: string;
  shipping_address?: ShippingAddress;
}

export interface PayRequest {
  /** Names the attempt: the same key again is the same payment, never a second one. */
  key: string;
  order_info?: OrderInfo;
  shipping_query_id?: number;
  shipping_option_id?: string;
  tip_amount?: number;
  card_number?: string;
}

/** A line of a Stars history. */
export interface StarEntry {
  id: number;
  /** Positive when Stars came in. */
  amount: number;
  balance: number;
  /** `grant`, `topup`, `payment`, `refund` … */
  memo: string;
  peer_id?: number;
  date: number;
}

/** A top-up made: the ledger transfer and the balance after it. */
export interface TopUp {
  transfer_id: number;
  amount: number;
  balance: number;
}

export interface Wallet {
  balance: number;
  history: StarEntry[];
  subscriptions: Subscription[];
  payments: Payment[];
  /** Free top-ups are available. */
  sandbox: boolean;
  /** Stars are sold by card here: one Star's price in the smallest units of `star_currency`. */
  star_price?: number;
  star_currency?: string;
}

export interface Member {
  user: User;
  role: string;
  joined_at: number;
}

export interface CallbackAnswer {
  query_id: string;
  chat_id: number;
  message_id: number;
  answered: boolean;
  text?: string;
  show_alert: boolean;
  url?: string;
}

export interface BotCommand {
  command: string;
  description: string;
}

export interface BotInfo {
  user: User;
  name: string;
  description: string;
  short_description: string;
  commands: BotCommand[];
  menu_button: { type: "commands" } | { type: "web_app"; text: string; url: string };
}

export type Frame =
  | { type: "hello"; cursor: number; apps_url: string }
  | { type: "message_new"; cursor: number; message: Message }
  | { type: "message_edited"; cursor: number; message: Message }
  | { type: "message_deleted"; cursor: number; chat_id: number; message_id: number }
  | { type: "chat_updated"; cursor: number; chat: Chat }
  | { type: "chat_removed"; cursor: number; chat_id: number }
  | { type: "read_inbox"; cursor: number; chat_id: number; max_id: number }
  | { type: "read_outbox"; cursor: number; chat_id: number; max_id: number }
  | { type: "callback_answer"; cursor: number; answer: CallbackAnswer }
  | { type: "poll_updated"; cursor: number; chat_id: number; message_id: number; poll: Poll }
  | { type: "reactions_updated"; cursor: number; chat_id: number; message_id: number; reactions: Reaction[] }
  | { type: "payment_updated"; cursor: number; payment: Payment }
  | { type: "chat_action"; cursor: number; chat_id: number; user_id: number; action: string };

/** An error answer of the API, or `network` when Plaza could not be reached. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export class Api {
  constructor(public token: string | null = null) {}

  private async send(method: Method, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload: BodyInit | undefined;
    if (body instanceof FormData) {
      payload = body;
    } else if (body !== undefined) {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(`/api/v1${path}`, { method, headers, body: payload });
    } catch {
      throw new ApiError(0, "network", "Plaza can't be reached. Check your connection.");
    }
    if (!res.ok) {
      let detail: { code?: string; message?: string; retry_after?: number } = {};
      try {
        detail = (await res.json()).error ?? {};
      } catch {
        // Not our JSON (a proxy's page): fall back to the status line.
      }
      throw new ApiError(res.status, detail.code ?? "http", detail.message ?? res.statusText, detail.retry_after);
    }
    return res;
  }

  private async json<T>(method: Method, path: string, body?: unknown): Promise<T> {
    return (await this.send(method, path, body)).json() as Promise<T>;
  }

  signup(username: string, password: string, display_name: string, language_code?: string) {
    return this.json<{ token: string; user: User }>("POST", "/auth/signup", {
      username,
      password,
      display_name,
      language_code,
    });
  }
  login(username: string, password: string) {
    return this.json<{ token: string; user: User }>("POST", "/auth/login", { username, password });
  }
  logout() {
    return this.send("POST", "/auth/logout");
  }
  me() {
    return this.json<User>("GET", "/me");
  }
  updateMe(patch: { display_name?: string; language_code?: string | null }) {
    return this.json<User>("PATCH", "/me", patch);
  }
  user(username: string) {
    return this.json<User>("GET", `/users/${encodeURIComponent(username)}`);
  }
  /** The chat list and the update-log cursor it is at (open the stream there to miss nothing). */
  async chats(): Promise<{ items: ChatListItem[]; cursor: number }> {
    const res = await this.send("GET", "/chats");
    return { items: (await res.json()) as ChatListItem[], cursor: Number(res.headers.get("plaza-cursor") ?? 0) };
  }
  chat(id: number) {
    return this.json<Chat>("GET", `/chats/${id}`);
  }
  openPrivate(username: string) {
    return this.json<Chat>("POST", "/chats/private", { username });
  }
  createGroup(title: string, members: string[]) {
    return this.json<Chat>("POST", "/chats/group", { title, members });
  }
  setTitle(chat: number, title: string) {
    return this.json<Chat>("PATCH", `/chats/${chat}`, { title });
  }
  members(chat: number) {
    return this.json<Member[]>("GET", `/chats/${chat}/members`);
  }
  addMembers(chat: number, usernames: string[]) {
    return this.json<unknown>("POST", `/chats/${chat}/members`, { members: usernames });
  }
  removeMember(chat: number, user: number) {
    return this.send("DELETE", `/chats/${chat}/members/${user}`);
  }
  history(chat: number, page: { before?: number; after?: number; limit?: number }) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(page)) if (v !== undefined) q.set(k, String(v));
    return this.json<Message[]>("GET", `/chats/${chat}/messages?${q}`);
  }
  sendMessage(chat: number, text: string, reply_to_message_id?: number) {
    return this.json<Message>("POST", `/chats/${chat}/messages`, { text, reply_to_message_id });
  }
  sendFile(chat: number, file: File, kind: "photo" | "document", caption: string, replyTo?: number) {
    const form = new FormData();
    form.set("kind", kind);
    if (caption) form.set("caption", caption);
    if (replyTo !== undefined) form.set("reply_to_message_id", String(replyTo));
    form.set("file", file, file.name);
    return this.json<Message>("POST", `/chats/${chat}/files`, form);
  }
  editMessage(chat: number, id: number, text: string) {
    return this.json<Message>("PATCH", `/chats/${chat}/messages/${id}`, { text });
  }
  deleteMessage(chat: number, id: number) {
    return this.send("DELETE", `/chats/${chat}/messages/${id}`);
  }
  markRead(chat: number, max_id: number) {
    return this.send("POST", `/chats/${chat}/read`, { max_id });
  }
  action(chat: number, action: string) {
    return this.send("POST", `/chats/${chat}/action`, { action });
  }
  pressButton(chat: number, message: number, data: string) {
    return this.json<CallbackAnswer>("POST", `/chats/${chat}/messages/${message}/callback`, { data });
  }
  startBot(username: string, payload?: string) {
    return this.json<{ chat: Chat; message: Message }>("POST", `/bots/${encodeURIComponent(username)}/start`, {
      payload,
    });
  }
  botInfo(username: string, chat?: number) {
    const q = chat === undefined ? "" : `?chat_id=${chat}`;
    return this.json<BotInfo>("GET", `/bots/${encodeURIComponent(username)}${q}`);
  }
  blocked(chat: number) {
    return this.json<{ blocked: boolean }>("GET", `/chats/${chat}/blocked`);
  }
  setBlocked(chat: number, blocked: boolean) {
    return this.send("PUT", `/chats/${chat}/blocked`, { blocked });
  }
  vote(chat: number, message: number, option_ids: number[]) {
    return this.send("POST", `/chats/${chat}/messages/${message}/vote`, { option_ids });
  }
  react(chat: number, message: number, emojis: string[]) {
    return this.send("PUT", `/chats/${chat}/messages/${message}/reactions`, { emojis });
  }
  launchWebApp(req: {
    bot_username: string;
    source: string;
    chat_id?: number;
    message_id?: number;
    url?: string;
    short_name?: string;
    start_param?: string;
  }) {
    const { bot_username, source, chat_id, message_id, url, short_name, start_param } = req;
    return this.json<{ launch_url: string; url: string; init_data: string; query_id?: string; launch_id: string; version: string; platform: string; bot: User }>(
      "POST",
      "/webapps/launch",
      { bot_username, source, chat_id, message_id, url, short_name, start_param },
    );
  }
  sendWebAppData(launch_id: string, data: string) {
    return this.json<Message>("POST", "/webapps/data", { launch_id, data });
  }
  /** A custom method of an open app (CloudStorage): its result or Telegram's error text. */
  invokeWebAppMethod(launch_id: string, method: string, params: unknown) {
    return this.json<{ result?: unknown; error?: string }>("POST", "/webapps/invoke", { launch_id, method, params });
  }
  /** `requestWriteAccess` granted: the app's bot may message the person. */
  allowBotMessages(launch_id: string) {
    return this.send("POST", "/webapps/write_access", { launch_id });
  }
  /** `requestContact` granted: the person's phone number goes to the bot as a contact message. */
  shareContact(launch_id: string, phone_number?: string) {
    return this.json<Message>("POST", "/webapps/contact", { launch_id, phone_number });
  }
  /** `shareMessage`: the message the bot prepared, and the kinds of chat it may go to. */
  preparedMessage(launch_id: string, id: string) {
    return this.json<{ id: string; bot: User; text: string; media?: string; chat_types: string[]; expires_at: number }>(
      "GET",
      `/webapps/prepared_message/${encodeURIComponent(id)}?launch_id=${encodeURIComponent(launch_id)}`,
    );
  }
  /** `shareMessage`: sends the prepared message, via its bot, into `chat_id`. */
  sendPreparedMessage(launch_id: string, id: string, chat_id: number) {
    return this.json<Message>("POST", "/webapps/prepared_message", { launch_id, id, chat_id });
  }
  /** An invoice's payment sheet, and where the viewer stands with it. */
  invoice(slug: string) {
    return this.json<Invoice>("GET", `/invoices/${encodeURIComponent(slug)}`);
  }
  /** A flexible invoice's shipping options for an address (the bot has 10 s to answer). */
  shippingOptions(slug: string, shipping_address: ShippingAddress) {
    return this.json<{ shipping_query_id: number; options: ShippingOption[] }>("POST", `/invoices/${encodeURIComponent(slug)}/shipping`, { shipping_address });
  }
  /** Pays an invoice; answers once the bot confirmed (or not) the checkout, at most ~10 s later. */
  pay(slug: string, req: PayRequest) {
    return this.json<Payment>("POST", `/invoices/${encodeURIComponent(slug)}/pay`, req);
  }
  payment(id: number) {
    return this.json<Payment>("GET", `/payments/${id}`);
  }
  /** The sheet closed before the bot answered: nothing is charged. */
  cancelPayment(id: number) {
    return this.json<Payment>("POST", `/payments/${id}/cancel`);
  }
  wallet() {
    return this.json<Wallet>("GET", "/stars");
  }
  /** Free Stars, in a sandbox only; the same key tops up once. */
  topUp(amount: number, key: string, cardNumber?: string) {
    return this.json<TopUp>("POST", "/stars/topup", cardNumber ? { amount, key, card_number: cardNumber } : { amount, key });
  }
  /** Turns a subscription's renewal off (`true`) or on again. */
  setSubscriptionCanceled(id: number, canceled: boolean) {
    return this.json<Subscription>("POST", `/subscriptions/${id}/cancel`, { canceled });
  }
  async file(fileId: string): Promise<Blob> {
    return (await this.send("GET", `/files/${encodeURIComponent(fileId)}`)).blob();
  }
}
