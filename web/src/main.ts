// Boots the client: restores the session, or shows the sign-in screen; remembers a link that
// named a chat (`/<username>`, `/<bot_username>?start=<payload>`), a mini app
// (`/<bot_username>/<short_name>?startapp=<param>`, `/<bot_username>?startapp`) or an invoice
// (`/$<slug>`, `/invoice/<slug>`) until someone is signed in.

import { Api, ApiError, type User } from "./api.js";
import { h } from "./dom.js";
import { App } from "./ui/app.js";
import { type Opening, parseOpening } from "./links.js";
import { authScreen } from "./ui/auth.js";
import { initTheme } from "./ui/theme.js";

const TOKEN = "plaza.token";
const root = document.getElementById("root")!;
const api = new Api(localStorage.getItem(TOKEN));

let pending: Opening | null = parseOpening(location.pathname, location.search);

function signedIn(token: string, user: User, list: ReturnType<Api["chats"]> | null = null): void {
  api.token = token;
  localStorage.setItem(TOKEN, token);
  const link = pending;
  pending = null;
  new App(api, user, root, signedOut, link, list);
}

function signedOut(): void {
  api.token = null;
  localStorage.removeItem(TOKEN);
  history.replaceState(null, "", "/");
  authScreen(root, api, signedIn);
}

async function boot(): Promise<void> {
  initTheme();
  if (!api.token) return authScreen(root, api, signedIn);
  // The list is asked for beside the account, not after it: one round trip to a usable screen.
  const list = api.chats();
  list.catch(() => undefined);
  try {
    signedIn(api.token, await api.me(), list);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return signedOut();
    root.replaceChildren(
      h("main", { class: "auth" }, h("div", { class: "auth-card" }, h("h1", {}, "Plaza"), h("p", { role: "alert" }, e instanceof Error ? e.message : String(e)), h("button", { class: "primary wide", onclick: () => void boot() }, "Try again"))),
    );
  }
}

void boot();
