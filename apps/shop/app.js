// Plaza Café: a small shop mini app written against Telegram.WebApp (Bot API 9.1).
// Catalog → order (BackButton returns) → Place order: opened from a reply-keyboard button it sends
// the order to the bot with sendData (which closes the app); otherwise it thanks and closes.
'use strict';

(() => {
  const tg = window.Telegram && window.Telegram.WebApp;
  // The official script defines WebApp everywhere; outside a host it has no launch data and the
  // platform "unknown". A reply-keyboard launch has empty initData but a real platform.
  const inHost = Boolean(tg && (tg.initData || (tg.platform && tg.platform !== 'unknown')));
  const can = (version) => inHost && typeof tg.isVersionAtLeast === 'function' && tg.isVersionAtLeast(version);
  const user = (tg && tg.initDataUnsafe && tg.initDataUnsafe.user) || null;

  const CURRENCY = 'EUR';
  const MAX_QTY = 20;
  // Prices in minor units (cents), as in the Bot API's LabeledPrice.
  const MENU = [
    { id: 'flat_white', emoji: '\u2615\uFE0F', name: 'Flat white', desc: 'Double ristretto, silky milk', price: 340 },
    { id: 'matcha', emoji: '🍵', name: 'Matcha latte', desc: 'Ceremonial matcha, oat milk', price: 420 },
    { id: 'croissant', emoji: '🥐', name: 'Croissant', desc: 'All butter, baked this morning', price: 280 },
    { id: 'cheesecake', emoji: '🍰', name: 'Cheesecake', desc: 'Baked, with berry compote', price: 490 },
    { id: 'club', emoji: '🥪', name: 'Club sandwich', desc: 'Chicken, bacon, tomato', price: 650 },
    { id: 'juice', emoji: '🍊', name: 'Orange juice', desc: 'Freshly squeezed, 300 ml', price: 390 },
  ];
  const byId = new Map(MENU.map((m) => [m.id, m]));

  const $ = (id) => document.getElementById(id);
  const els = {
    app: document.querySelector('.app'), catalog: $('catalog'), menu: $('menu'), note: $('note'),
    order: $('order'), lines: $('lines'), total: $('total'), comment: $('comment'), edit: $('edit'),
    bar: $('bar'), barBtn: $('bar-btn'), live: $('live'),
  };

  const cart = new Map(); // id → quantity
  const cards = new Map(); // id → elements of its card
  let view = 'catalog';
  let closingConfirmation = false;

  let money;
  {
    const locale = (user && user.language_code) || navigator.language || 'en';
    let nf;
    try { nf = new Intl.NumberFormat(locale, { style: 'currency', currency: CURRENCY }); } catch {
      nf = new Intl.NumberFormat('en', { style: 'currency', currency: CURRENCY });
    }
    money = (cents) => nf.format(cents / 100);
  }

  const count = () => [...cart.values()].reduce((a, q) => a + q, 0);
  const total = () => [...cart].reduce((a, [id, q]) => a + byId.get(id).price * q, 0);
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

  // ---------- host ----------

  function haptic(kind, arg) {
    if (!can('6.1')) return;
    try { tg.HapticFeedback[kind](arg); } catch { /* not fatal */ }
  }

  function popup(params) {
    return new Promise((resolve) => {
      if (can('6.2')) {
        try { tg.showPopup(params, resolve); } catch { resolve(null); } // one popup at a time
      } else {
        resolve(window.confirm(`${params.title}\n\n${params.message}`) ? params.buttons[0].id : null);
      }
    });
  }

  function alertBox(message) {
    return new Promise((resolve) => {
      if (can('6.2')) {
        try { tg.showAlert(message, resolve); } catch { resolve(); }
      } else {
        window.alert(message);
        resolve();
      }
    });
  }

  // The host's main button, or an in-page stand-in outside a host.
  let mainAction = null;
  function setMain(text, action) {
    mainAction = action;
    if (inHost) {
      if (text) tg.MainButton.setParams({ text, is_visible: true, is_active: true });
      else tg.MainButton.hide();
    } else {
      els.bar.hidden = !text;
      els.app.classList.toggle('has-bar', Boolean(text));
      if (text) els.barBtn.textContent = text;
    }
  }
  const onMain = () => { if (mainAction) mainAction(); };

  function setClosingConfirmation(on) {
    if (on === closingConfirmation || !can('6.2')) return;
    closingConfirmation = on;
    if (on) tg.enableClosingConfirmation();
    else tg.disableClosingConfirmation();
  }

  function applyTheme() {
    if (!inHost) return;
    document.documentElement.dataset.scheme = tg.colorScheme;
    if (!can('6.1')) return;
    tg.setHeaderColor('secondary_bg_color');
    if (tg.themeParams.secondary_bg_color) {
      tg.setBackgroundColor('secondary_bg_color');
      if (can('7.10')) tg.setBottomBarColor('secondary_bg_color');
    }
  }

  // ---------- catalog ----------

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function button(className, text, label, onClick) {
    const b = el('button', className, text);
    b.type = 'button';
    if (label) b.setAttribute('aria-label', label);
    b.addEventListener('click', onClick);
    return b;
  }

  function renderMenu() {
    for (const m of MENU) {
      const li = el('li', 'item');
      const pic = el('div', 'pic', m.emoji);
      pic.setAttribute('aria-hidden', 'true');
      const badge = el('span', 'badge');
      badge.hidden = true;
      pic.append(badge);
      const name = el('h2', 'name', m.name);
      name.id = `name-${m.id}`;
      const controls = el('div', 'controls');
      const add = button('add', 'Add', `Add ${m.name}`, () => change(m.id, 1));
      const stepper = el('div', 'stepper');
      stepper.setAttribute('role', 'group');
      stepper.setAttribute('aria-labelledby', name.id);
      stepper.hidden = true;
      const minus = button('step minus', '−', `Remove one ${m.name}`, () => change(m.id, -1));
      const qty = el('span', 'qty', '0');
      const plus = button('step plus', '+', `Add one more ${m.name}`, () => change(m.id, 1));
      stepper.append(minus, qty, plus);
      controls.append(add, stepper);
      li.append(pic, name, el('p', 'desc', m.desc), el('p', 'price', money(m.price)), controls);
      els.menu.append(li);
      cards.set(m.id, { add, stepper, minus, plus, qty, badge });
    }
  }

  function updateCard(id) {
    const c = cards.get(id);
    const q = cart.get(id) || 0;
    const focused = document.activeElement;
    c.add.hidden = q > 0;
    c.stepper.hidden = q === 0;
    c.qty.textContent = String(q);
    c.badge.textContent = String(q);
    c.badge.hidden = q === 0;
    c.plus.disabled = q >= MAX_QTY;
    if (focused === c.add && q > 0) c.plus.focus();
    else if ((focused === c.minus || focused === c.plus) && q === 0) c.add.focus();
  }

  function change(id, delta) {
    const before = cart.get(id) || 0;
    const q = Math.max(0, Math.min(MAX_QTY, before + delta));
    if (q === before) return;
    if (q) cart.set(id, q);
    else cart.delete(id);
    haptic('impactOccurred', delta > 0 ? 'light' : 'soft');
    updateCard(id);
    const { name } = byId.get(id);
    els.live.textContent = q ? `${name}: ${q} in your order` : `${name} removed from your order`;
    syncChrome();
  }

  // ---------- order ----------

  function renderOrder() {
    els.lines.replaceChildren(...[...cart].map(([id, q]) => {
      const m = byId.get(id);
      const li = el('li', 'line');
      const pic = el('span', 'line-pic', m.emoji);
      pic.setAttribute('aria-hidden', 'true');
      const name = el('span', 'line-name');
      name.append(el('strong', '', m.name), el('span', '', `${q} × ${money(m.price)}`));
      li.append(pic, name, el('span', 'line-sum', money(m.price * q)));
      return li;
    }));
    els.total.textContent = money(total());
  }

  function showOrder() {
    if (!count()) return;
    view = 'order';
    renderOrder();
    els.catalog.hidden = true;
    els.order.hidden = false;
    if (can('6.1')) tg.BackButton.show();
    window.scrollTo(0, 0);
    els.order.focus({ preventScroll: true });
    syncChrome();
  }

  function showCatalog() {
    view = 'catalog';
    els.order.hidden = true;
    els.catalog.hidden = false;
    if (can('6.1')) tg.BackButton.hide();
    els.catalog.focus({ preventScroll: true });
    syncChrome();
  }

  function syncChrome() {
    const n = count();
    if (view === 'catalog') setMain(n ? `View order · ${money(total())}` : '', showOrder);
    else setMain('Place order', placeOrder);
    setClosingConfirmation(n > 0);
  }

  function buildOrder() {
    return {
      items: [...cart].map(([id, qty]) => ({ id, name: byId.get(id).name, qty, price: byId.get(id).price })),
      total: total(),
      currency: CURRENCY,
      comment: els.comment.value.trim().slice(0, 300),
    };
  }

  async function placeOrder() {
    const n = count();
    if (!n) return showCatalog();
    const choice = await popup({
      title: 'Place your order?',
      message: `${plural(n, 'item')} for ${money(total())}. We'll start making it right away.`,
      buttons: [{ id: 'place', type: 'default', text: 'Place order' }, { type: 'cancel' }],
    });
    if (choice !== 'place') return;
    const order = buildOrder();
    haptic('notificationOccurred', 'success');

    if (inHost && !tg.initData) {
      // Opened from a reply-keyboard button: the bot gets the order as web_app_data; the app closes.
      setClosingConfirmation(false);
      try {
        tg.sendData(JSON.stringify(order));
      } catch (e) {
        setClosingConfirmation(true);
        haptic('notificationOccurred', 'error');
        await alertBox(`Sorry, your order couldn't be sent (${e.message}).`);
      }
      return;
    }

    await alertBox(`Thank you${user ? `, ${user.first_name}` : ''}! Your order is being prepared.`);
    cart.clear();
    setClosingConfirmation(false);
    if (inHost) {
      tg.close();
      return;
    }
    for (const id of cards.keys()) updateCard(id);
    els.comment.value = '';
    showCatalog();
  }

  // ---------- start ----------

  renderMenu();
  els.edit.addEventListener('click', showCatalog);
  els.catalog.tabIndex = -1;

  if (user && user.first_name) {
    els.catalog.querySelector('.sub').textContent = `Hi, ${user.first_name}! What can we get you today?`;
  }

  if (inHost) {
    tg.MainButton.onClick(onMain);
    if (can('6.1')) tg.BackButton.onClick(showCatalog);
    tg.onEvent('themeChanged', applyTheme);
    applyTheme();
    tg.ready();
    tg.expand();
  } else {
    els.barBtn.addEventListener('click', onMain);
    els.note.textContent = 'Preview: Plaza Café is a mini app that runs inside Plaza or Telegram. Orders placed here go nowhere.';
    els.note.hidden = false;
  }
  syncChrome();
})();
