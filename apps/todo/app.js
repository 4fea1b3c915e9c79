// To-do: a mini app written against Telegram.WebApp (Bot API 9.1). Tasks live in CloudStorage,
// one key per task ("t_<id>" → JSON {text, done, at}), so every change is a single write and the
// order is the creation time kept in the value.
'use strict';

(() => {
  const tg = window.Telegram && window.Telegram.WebApp;
  // The official script defines WebApp everywhere; outside a host it has no launch data and the
  // platform "unknown". A reply-keyboard launch has empty initData but a real platform.
  const inHost = Boolean(tg && (tg.initData || (tg.platform && tg.platform !== 'unknown')));
  const can = (version) => inHost && typeof tg.isVersionAtLeast === 'function' && tg.isVersionAtLeast(version);

  const PREFIX = 't_';
  const MAX_KEYS = 1024; // CloudStorage: at most 1024 keys per user and bot
  const MAX_ITEMS = 1000;
  const MAX_VALUE = 4096; // characters; checked in UTF-8 bytes, which is never fewer
  const BATCH = 100;
  const TIMEOUT_MS = 10000;

  const $ = (id) => document.getElementById(id);
  const els = {
    greeting: $('greeting'), summary: $('summary'), note: $('note'),
    error: $('error'), errorText: $('error-text'), errorAction: $('error-action'),
    form: $('new-form'), input: $('new-text'), tasks: $('tasks'), list: $('list'),
    empty: $('empty'), loading: $('loading'), clear: $('clear'),
  };

  /** @type {{id: string, text: string, done: boolean, at: number}[]} */
  let items = [];
  let loaded = false;
  let otherKeys = 0; // keys other apps of the same bot keep in the same storage
  let editing = null; // {id, draft}
  let errorRetry = null;

  // ---------- storage ----------

  const errText = (e) => (typeof e === 'string' ? e : (e && e.message) || 'unknown error');

  function cloudCall(method, ...args) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer from the cloud')), TIMEOUT_MS);
      try {
        tg.CloudStorage[method](...args, (err, result) => {
          clearTimeout(timer);
          if (err) reject(new Error(errText(err)));
          else if (result === false) reject(new Error('not stored'));
          else resolve(result);
        });
      } catch (e) {
        clearTimeout(timer);
        reject(e);
      }
    });
  }

  const chunks = (list) => {
    const out = [];
    for (let i = 0; i < list.length; i += BATCH) out.push(list.slice(i, i + BATCH));
    return out;
  };

  const cloudStore = {
    keys: () => cloudCall('getKeys'),
    getMany: async (keys) => Object.assign({}, ...(await Promise.all(chunks(keys).map((c) => cloudCall('getItems', c))))),
    set: (key, value) => cloudCall('setItem', key, value),
    remove: async (keys) => { await Promise.all(chunks(keys).map((c) => cloudCall('removeItems', c))); },
  };

  // Outside a host (or in one without CloudStorage) tasks stay in this browser.
  function browserStore() {
    const NS = 'plaza-todo:';
    let ls = null;
    try { ls = window.localStorage; ls.getItem(NS); } catch { ls = null; }
    const mem = new Map();
    return {
      keys: async () => (ls ? Object.keys(ls).filter((k) => k.startsWith(NS)).map((k) => k.slice(NS.length)) : [...mem.keys()]),
      getMany: async (keys) => Object.fromEntries(keys.map((k) => [k, ls ? ls.getItem(NS + k) : mem.get(k)])),
      set: async (key, value) => { if (ls) ls.setItem(NS + key, value); else mem.set(key, value); },
      remove: async (keys) => { for (const k of keys) { if (ls) ls.removeItem(NS + k); else mem.delete(k); } },
    };
  }

  const hasCloud = can('6.9') && Boolean(tg.CloudStorage);
  const store = hasCloud ? cloudStore : browserStore();

  const serialize = (item) => JSON.stringify({ text: item.text, done: item.done, at: item.at });
  const byteLength = (s) => new TextEncoder().encode(s).length;
  const keyOf = (item) => PREFIX + item.id;
  const byAge = (a, b) => a.at - b.at || (a.id < b.id ? -1 : 1);

  function parseItem(key, value) {
    try {
      const v = JSON.parse(value);
      if (typeof v.text !== 'string' || !v.text) return null;
      return { id: key.slice(PREFIX.length), text: v.text, done: v.done === true, at: Number(v.at) || 0 };
    } catch {
      return null;
    }
  }

  function newId() {
    const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
    return Date.now().toString(36) + rand; // [0-9a-z] only: a valid CloudStorage key
  }

  // ---------- host ----------

  function syncMainButton() {
    if (!inHost) return;
    if (els.input.value.trim()) tg.MainButton.setParams({ text: 'Add task', is_visible: true, is_active: true });
    else tg.MainButton.hide();
  }

  function haptic() {
    if (can('6.1')) tg.HapticFeedback.impactOccurred('light');
  }

  function confirmPopup(message) {
    return new Promise((resolve) => {
      if (can('6.2')) {
        try { tg.showConfirm(message, (ok) => resolve(Boolean(ok))); } catch { resolve(false); }
      } else {
        resolve(window.confirm(message));
      }
    });
  }

  // ---------- messages ----------

  function showError(text, retry = null) {
    errorRetry = retry;
    els.errorText.textContent = text;
    els.errorAction.textContent = retry ? 'Retry' : 'Dismiss';
    els.error.hidden = false;
  }
  function clearError() {
    els.error.hidden = true;
    errorRetry = null;
  }
  const short = (text, n = 60) => (text.length > n ? text.slice(0, n - 1) + '…' : text);

  // ---------- rendering ----------

  const SVG_NS = 'http://www.w3.org/2000/svg';
  const ICONS = {
    edit: 'M4 20h4L19 9a2.8 2.8 0 0 0-4-4L4 16v4zM13.5 6.5l4 4',
    delete: 'M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3',
  };
  function iconButton(role, label) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `icon-btn ${role}`;
    b.dataset.role = role;
    b.setAttribute('aria-label', label);
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', ICONS[role]);
    for (const [k, v] of [['fill', 'none'], ['stroke', 'currentColor'], ['stroke-width', '2'], ['stroke-linecap', 'round'], ['stroke-linejoin', 'round']]) {
      path.setAttribute(k, v);
    }
    svg.append(path);
    b.append(svg);
    return b;
  }

  function renderItem(item) {
    const li = document.createElement('li');
    li.className = 'item' + (item.done ? ' done' : '');
    li.dataset.id = item.id;
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.className = 'toggle';
    box.id = `c-${item.id}`;
    box.dataset.role = 'toggle';
    box.checked = item.done;
    if (editing && editing.id === item.id) {
      box.setAttribute('aria-label', `Done: ${item.text}`);
      const input = document.createElement('input');
      input.type = 'text';
      input.className = 'edit-input';
      input.dataset.role = 'edit-input';
      input.maxLength = 500;
      input.value = editing.draft;
      input.setAttribute('aria-label', 'Edit task');
      input.enterKeyHint = 'done';
      li.append(box, input);
    } else {
      const label = document.createElement('label');
      label.className = 'text';
      label.htmlFor = box.id;
      label.textContent = item.text;
      li.append(box, label, iconButton('edit', `Edit: ${item.text}`));
    }
    li.append(iconButton('delete', `Delete: ${item.text}`));
    return li;
  }

  let rendering = false;
  function render(focus = null) {
    const active = document.activeElement;
    const activeLi = active && active.closest ? active.closest('li[data-id]') : null;
    if (!focus && activeLi) focus = { id: activeLi.dataset.id, role: active.dataset.role };

    rendering = true;
    els.list.replaceChildren(...items.map(renderItem));
    rendering = false;

    const done = items.filter((i) => i.done).length;
    els.loading.hidden = loaded;
    els.tasks.setAttribute('aria-busy', String(!loaded));
    els.empty.hidden = !loaded || items.length > 0;
    els.clear.hidden = done === 0;
    els.clear.textContent = `Clear completed (${done})`;
    els.summary.textContent = !loaded ? 'Loading…'
      : items.length === 0 ? 'No tasks yet'
        : `${items.length - done} to do · ${done} done`;

    if (focus) {
      const li = els.list.querySelector(`li[data-id="${CSS.escape(focus.id)}"]`);
      const target = li && (li.querySelector(`[data-role="${focus.role}"]`) || li.querySelector('.toggle'));
      if (target) {
        target.focus();
        if (focus.role === 'edit-input' && focus.select) target.select();
      } else if (focus.fallback) {
        focus.fallback.focus();
      }
    }
  }

  // ---------- actions ----------

  const find = (id) => items.find((i) => i.id === id);

  async function load() {
    clearError();
    try {
      const keys = await store.keys();
      const mine = keys.filter((k) => k.startsWith(PREFIX));
      otherKeys = keys.length - mine.length;
      const values = mine.length ? await store.getMany(mine) : {};
      items = mine.map((k) => parseItem(k, values[k])).filter(Boolean).sort(byAge);
      loaded = true;
    } catch (e) {
      showError(`Couldn't load your tasks: ${errText(e)}.`, load);
    }
    render();
  }

  async function addTask() {
    const text = els.input.value.replace(/\s+/g, ' ').trim();
    if (!text) return;
    if (!loaded) return showError('Your tasks are still loading — try again in a moment.');
    if (items.length >= MAX_ITEMS || items.length + otherKeys >= MAX_KEYS) {
      return showError('Your list is full. Clear completed tasks to make room.');
    }
    const item = { id: newId(), text, done: false, at: Date.now() };
    const value = serialize(item);
    if (byteLength(value) > MAX_VALUE) return showError('That task is too long.');

    items.push(item);
    els.input.value = '';
    syncMainButton();
    render();
    try {
      await store.set(keyOf(item), value);
      clearError();
    } catch (e) {
      items = items.filter((i) => i !== item);
      if (!els.input.value) els.input.value = text;
      syncMainButton();
      render();
      showError(`Couldn't save “${short(text)}”: ${errText(e)}.`);
    }
  }

  async function setDone(id, done) {
    const item = find(id);
    if (!item || item.done === done) return;
    haptic();
    item.done = done;
    render();
    try {
      await store.set(keyOf(item), serialize(item));
      clearError();
    } catch (e) {
      if (item.done === done) item.done = !done;
      render();
      showError(`Couldn't update “${short(item.text)}”: ${errText(e)}.`);
    }
  }

  function startEdit(id) {
    const item = find(id);
    if (!item) return;
    if (editing) finishEdit(true);
    editing = { id, draft: item.text };
    render({ id, role: 'edit-input', select: true });
  }

  async function finishEdit(save) {
    if (!editing) return;
    const { id, draft } = editing;
    editing = null;
    const item = find(id);
    const text = draft.replace(/\s+/g, ' ').trim();
    const keepFocus = els.list.contains(document.activeElement);
    if (!item || !save || !text || text === item.text) {
      render(keepFocus ? { id, role: 'edit' } : null);
      return;
    }
    const before = item.text;
    item.text = text;
    const value = serialize(item);
    if (byteLength(value) > MAX_VALUE) {
      item.text = before;
      render();
      return showError('That task is too long.');
    }
    render(keepFocus ? { id, role: 'edit' } : null);
    try {
      await store.set(keyOf(item), value);
      clearError();
    } catch (e) {
      if (item.text === text) item.text = before;
      render();
      showError(`Couldn't save your edit: ${errText(e)}.`);
    }
  }

  async function deleteTask(id) {
    const item = find(id);
    if (!item) return;
    if (!(await confirmPopup(`Delete “${short(item.text, 200)}”?`))) return;
    const index = items.indexOf(item);
    if (index < 0) return;
    const next = items[index + 1] || items[index - 1];
    const hadFocus = els.list.contains(document.activeElement);
    items.splice(index, 1);
    render(hadFocus ? (next ? { id: next.id, role: 'delete' } : { id: '', fallback: els.tasks }) : null);
    try {
      await store.remove([keyOf(item)]);
      clearError();
    } catch (e) {
      items.push(item);
      items.sort(byAge);
      render();
      showError(`Couldn't delete “${short(item.text)}”: ${errText(e)}.`);
    }
  }

  async function clearCompleted() {
    const done = items.filter((i) => i.done);
    if (!done.length) return;
    const n = done.length;
    if (!(await confirmPopup(`Remove ${n} completed task${n === 1 ? '' : 's'}?`))) return;
    const hadFocus = document.activeElement === els.clear;
    items = items.filter((i) => !done.includes(i));
    render(hadFocus ? { id: '', fallback: els.tasks } : null);
    try {
      await store.remove(done.map(keyOf));
      clearError();
    } catch (e) {
      await load(); // some may be gone and some not: show what the storage holds
      showError(`Couldn't clear completed tasks: ${errText(e)}.`);
    }
  }

  // ---------- wiring ----------

  els.form.addEventListener('submit', (e) => {
    e.preventDefault();
    addTask();
  });
  els.input.addEventListener('input', syncMainButton);
  els.clear.addEventListener('click', clearCompleted);
  els.errorAction.addEventListener('click', () => {
    const retry = errorRetry;
    clearError();
    if (retry) retry();
  });

  els.list.addEventListener('change', (e) => {
    if (e.target.dataset.role !== 'toggle') return;
    const li = e.target.closest('li[data-id]');
    setDone(li.dataset.id, e.target.checked);
  });
  els.list.addEventListener('click', (e) => {
    const btn = e.target.closest('button[data-role]');
    if (!btn) return;
    const { id } = btn.closest('li[data-id]').dataset;
    if (btn.dataset.role === 'edit') startEdit(id);
    else if (btn.dataset.role === 'delete') deleteTask(id);
  });
  els.list.addEventListener('input', (e) => {
    if (editing && e.target.dataset.role === 'edit-input') editing.draft = e.target.value;
  });
  els.list.addEventListener('keydown', (e) => {
    if (e.target.dataset.role !== 'edit-input') return;
    if (e.key === 'Enter') { e.preventDefault(); finishEdit(true); }
    else if (e.key === 'Escape') { e.preventDefault(); finishEdit(false); }
  });
  els.list.addEventListener('focusout', (e) => {
    if (!rendering && e.target.dataset.role === 'edit-input') finishEdit(true);
  });

  const name = tg && tg.initDataUnsafe && tg.initDataUnsafe.user && tg.initDataUnsafe.user.first_name;
  if (name) els.greeting.textContent = `Hi, ${name}!`;

  if (!inHost) {
    els.note.textContent = 'This mini app runs inside Plaza or Telegram. Opened here, your tasks are kept in this browser only.';
    els.note.hidden = false;
  } else if (!hasCloud) {
    els.note.textContent = 'This app doesn’t offer cloud storage here, so your tasks are kept on this device only.';
    els.note.hidden = false;
  }

  if (inHost) {
    document.documentElement.dataset.scheme = tg.colorScheme;
    tg.onEvent('themeChanged', () => { document.documentElement.dataset.scheme = tg.colorScheme; });
    tg.MainButton.onClick(addTask);
    if (can('6.1')) {
      tg.setHeaderColor('secondary_bg_color');
      if (tg.themeParams.secondary_bg_color) tg.setBackgroundColor('secondary_bg_color');
    }
    tg.ready();
    tg.expand();
  }

  render();
  load();
})();
