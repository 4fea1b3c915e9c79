// The sign-in screen: log in, or sign up with a username, a display name and a password.

import { type Api, ApiError, type User } from "../api.js";
import { fill, h } from "../dom.js";

export function authScreen(root: HTMLElement, api: Api, onAuthed: (token: string, user: User) => void, mode: "login" | "signup" = "login"): void {
  const signup = mode === "signup";
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary wide" }, signup ? "Create account" : "Log in");
  const form = h(
    "form",
    { class: "form", "aria-label": signup ? "Sign up" : "Log in" },
    h("label", { for: "auth-username" }, "Username"),
    h("input", { id: "auth-username", name: "username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false", autofocus: true }),
    signup && h("label", { for: "auth-display" }, "Your name"),
    signup && h("input", { id: "auth-display", name: "display_name", autocomplete: "name", placeholder: "Shown to the people you chat with" }),
    h("label", { for: "auth-password" }, "Password"),
    h("input", { id: "auth-password", name: "password", type: "password", autocomplete: signup ? "new-password" : "current-password", required: true, minlength: signup ? 4 : undefined }),
    error,
    submit,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = Object.fromEntries(new FormData(form)) as Record<string, string>;
    submit.disabled = true;
    error.textContent = "";
    try {
      const username = v.username.trim().replace(/^@/, "");
      const res = signup
        ? await api.signup(username, v.password, (v.display_name ?? "").trim() || username, navigator.language.slice(0, 2))
        : await api.login(username, v.password);
      onAuthed(res.token, res.user);
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401 ? "Wrong username or password." : e instanceof Error ? e.message : String(e);
      submit.disabled = false;
    }
  });
  const other = h(
    "button",
    { type: "button", class: "link", onclick: () => authScreen(root, api, onAuthed, signup ? "login" : "signup") },
    signup ? "I have an account: log in" : "New here? Create an account",
  );
  fill(
    root,
    h(
      "main",
      { class: "auth" },
      h("div", { class: "auth-card" }, h("img", { src: document.querySelector<HTMLLinkElement>('link[rel="icon"]')?.href ?? "", alt: "", class: "logo", width: 64, height: 64 }), h("h1", {}, signup ? "Join Plaza" : "Plaza"), h("p", { class: "muted" }, signup ? "Pick a username people can find you by." : "Log in to chat with people and bots."), form, other),
    ),
  );
  form.querySelector<HTMLInputElement>("input")?.focus();
}
