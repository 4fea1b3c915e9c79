// A mini app written with @twa-dev/sdk (its `WebApp` default export wraps its own copy of
// Telegram's telegram-web-app.js), bundled by tests/clients/node/build_webapps.mjs and driven by
// miniapp_sdk_e2e.mjs. It shows what it learnt in the DOM: the user from the init data, the launch
// parameters, the theme's background, back-button presses, the popup's answer, a CloudStorage
// round trip and the value the @telegram-apps/sdk app stored. Its main button posts the raw init
// data to the app's backend (the `backend` of its URL's query), which answers with
// answerWebAppQuery; opened from a reply-keyboard button (no init data) it calls sendData instead.

import WebApp from "@twa-dev/sdk";

const show = (id, text) => (document.getElementById(id).textContent = text);
const cloud = (method, ...args) =>
  new Promise((resolve, reject) => WebApp.CloudStorage[method](...args, (err, result) => (err ? reject(new Error(err)) : resolve(result))));

try {
  WebApp.ready();
  const raw = WebApp.initData;
  const backend = new URLSearchParams(location.search).get("backend");
  const user = WebApp.initDataUnsafe.user;
  show("user", user ? `user ${user.id}` : "no user");
  show("launch", `${WebApp.platform} ${WebApp.version} ${WebApp.initDataUnsafe.query_id ? "with" : "without"} query_id`);

  const drawTheme = () => show("theme", `bg ${WebApp.themeParams.bg_color}`);
  drawTheme();
  WebApp.onEvent("themeChanged", drawTheme);

  let backs = 0;
  WebApp.BackButton.onClick(() => {
    show("back", `back ${++backs}`);
    WebApp.BackButton.hide();
  });
  WebApp.BackButton.show();

  document.getElementById("ask").addEventListener("click", () => {
    WebApp.showPopup(
      {
        title: "TWA",
        message: "Proceed with @twa-dev/sdk?",
        buttons: [
          { id: "yes", type: "default", text: "Yes" },
          { type: "cancel" },
        ],
      },
      (id) => show("popup", `popup ${id}`),
    );
  });

  const value = `twa-${Math.random().toString(36).slice(2, 8)}`;
  await cloud("setItem", "twa_value", value);
  const got = await cloud("getItem", "twa_value");
  show("cloud", `cloud ${got === value ? "ok" : "MISMATCH"} ${got}`);
  show("other", `other ${(await cloud("getItem", "tma_value")) || "-"}`);

  WebApp.MainButton.setParams({ text: raw ? "Send to backend" : "Send data", is_visible: true, is_active: true });
  WebApp.MainButton.onClick(async () => {
    if (!raw) {
      WebApp.sendData(JSON.stringify({ app: "twa", value, init_data: raw }));
      return;
    }
    show("status", "sending");
    WebApp.MainButton.showProgress();
    try {
      const res = await fetch(`${backend}/answer`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ app: "twa", init_data: raw }),
      });
      show("status", res.ok ? "sent" : `backend answered ${res.status}: ${await res.text()}`);
    } catch (e) {
      show("status", `error ${e}`);
    }
  });
  show("status", "ready");
} catch (e) {
  show("status", `error ${e?.name}: ${e?.message}`);
  throw e;
}
