// A mini app written with @telegram-apps/sdk (3.x: init, then mount the components it uses),
// bundled by tests/clients/node/build_webapps.mjs and driven by miniapp_sdk_e2e.mjs. It shows
// what it learnt in the DOM: the user from the init data, the launch parameters, the theme's
// background, back-button presses, the popup's answer and a CloudStorage round trip. Its main
// button posts the raw init data to the app's backend (the `backend` of its URL's query), which
// answers with answerWebAppQuery; opened from a reply-keyboard button (no init data) it calls
// sendData instead. Its Pay button asks the backend for an invoice link (createInvoiceLink) and
// opens it with the SDK's invoice.open, showing the status invoice_closed brought.

import {
  backButton,
  cloudStorage,
  init,
  initData,
  invoice,
  mainButton,
  miniApp,
  popup,
  retrieveLaunchParams,
  sendData,
  targetOrigin,
  themeParams,
} from "@telegram-apps/sdk";

const show = (id, text) => (document.getElementById(id).textContent = text);

try {
  // The bridge posts to https://web.telegram.org unless told otherwise, and the browser drops
  // messages meant for another origin than the parent's: a host elsewhere needs this.
  targetOrigin.set("*");
  init();
  const lp = retrieveLaunchParams();
  initData.restore();
  const raw = initData.raw() ?? "";
  const backend = new URLSearchParams(location.search).get("backend");
  const user = initData.user();
  show("user", user ? `user ${user.id}` : "no user");
  show("launch", `${lp.tgWebAppPlatform} ${lp.tgWebAppVersion} ${initData.queryId() ? "with" : "without"} query_id`);

  await themeParams.mount();
  const drawTheme = () => show("theme", `bg ${themeParams.backgroundColor()}`);
  drawTheme();
  themeParams.backgroundColor.sub(drawTheme);
  themeParams.bindCssVars();

  await miniApp.mount();
  miniApp.ready();

  backButton.mount();
  let backs = 0;
  backButton.onClick(() => {
    show("back", `back ${++backs}`);
    backButton.hide();
  });
  backButton.show();

  document.getElementById("ask").addEventListener("click", async () => {
    const id = await popup.open({
      title: "TMA",
      message: "Proceed with @telegram-apps/sdk?",
      buttons: [
        { id: "yes", type: "default", text: "Yes" },
        { type: "cancel" },
      ],
    });
    show("popup", `popup ${id}`);
  });

  document.getElementById("pay").addEventListener("click", async () => {
    try {
      show("invoice", "invoice asking");
      const res = await fetch(`${backend}/invoice`, { method: "POST" });
      const link = await res.text();
      if (!res.ok) throw new Error(`backend answered ${res.status}: ${link}`);
      show("invoice", "invoice open");
      show("invoice", `invoice ${await invoice.open(link, "url")}`);
    } catch (e) {
      show("invoice", `invoice error ${e?.name}: ${e?.message}`);
    }
  });

  const value = `tma-${Math.random().toString(36).slice(2, 8)}`;
  await cloudStorage.setItem("tma_value", value);
  const got = await cloudStorage.getItem("tma_value");
  show("cloud", `cloud ${got === value ? "ok" : "MISMATCH"} ${got}`);
  show("other", `other ${(await cloudStorage.getItem("twa_value")) || "-"}`);

  mainButton.mount();
  mainButton.setParams({ text: raw ? "Send to backend" : "Send data", isVisible: true, isEnabled: true });
  mainButton.onClick(async () => {
    if (!raw) {
      sendData(JSON.stringify({ app: "tma", value, init_data: raw }));
      return;
    }
    show("status", "sending");
    mainButton.setParams({ isLoaderVisible: true });
    try {
      const res = await fetch(`${backend}/answer`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ app: "tma", init_data: raw }),
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
