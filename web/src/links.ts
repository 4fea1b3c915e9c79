// Links that name something inside Plaza: a chat (`/alice`, `/bot?start=x`), a mini app
// (`/bot/app?startapp=y`, `/bot?startapp`) or an invoice (`/$slug`, `/invoice/slug`), on Plaza's
// own origin or as Telegram's t.me links.

/** The invoice a path names (`/$<slug>` or `/invoice/<slug>`, as `createInvoiceLink` makes them
 *  and mini apps pass to `openInvoice`), or null. */
export function invoiceSlug(pathname: string): string | null {
  let path = pathname;
  try {
    path = decodeURIComponent(pathname);
  } catch {
    // Not percent-encoded text: match it as it is.
  }
  const m = /^\/(?:\$|invoice\/)([A-Za-z0-9_=-]{1,64})\/?$/.exec(path);
  return m ? m[1] : null;
}

/** The link a path names (`/alice`, `/bot?start=x`, `/bot/app?startapp=y`, `/bot?startapp`). */
export function parseLink(pathname: string, search: string): Link | null {
  const q = new URLSearchParams(search);
  const app = /^\/([a-zA-Z][a-zA-Z0-9_]{2,31})\/([a-zA-Z0-9_]{3,30})\/?$/.exec(pathname);
  if (app) return { username: app[1], start: null, app: { short_name: app[2], start_param: q.get("startapp"), mode: q.get("mode") } };
  const m = /^\/([a-zA-Z][a-zA-Z0-9_]{2,31})\/?$/.exec(pathname);
  if (!m) return null;
  // `/<bot>?startapp[=X]` opens the bot's main mini app.
  if (q.has("startapp")) return { username: m[1], start: null, app: { short_name: null, start_param: q.get("startapp") || null, mode: q.get("mode") } };
  return { username: m[1], start: q.get("start") };
}

/** What the page's own address names when it is opened: a chat or mini app link, or an invoice
 *  (an invoice link opened in a new tab). */
export type Opening = { link: Link } | { invoice: string };

/** What a page address names, or null. */
export function parseOpening(pathname: string, search: string): Opening | null {
  const invoice = invoiceSlug(pathname);
  if (invoice) return { invoice };
  const link = parseLink(pathname, search);
  return link ? { link } : null;
}

/** A link that opens a chat: `/<username>` or `/<bot_username>?start=<payload>`; or a mini app
 * of a bot (`/<bot>/<short_name>?startapp=…`, or the bot's main app with `short_name` null). */
export interface Link {
  username: string;
  start: string | null;
  app?: { short_name: string | null; start_param: string | null; mode: string | null };
}

/** The path of a link that points inside Plaza (its own origin, or t.me as Telegram's clients
 *  treat it), or null for any other link. */
export function internalPath(href: string): string | null {
  try {
    const u = new URL(href, location.origin);
    const tme = (u.protocol === "https:" || u.protocol === "http:") && /^(www\.)?(t\.me|telegram\.me)$/i.test(u.hostname);
    return tme || u.origin === location.origin ? u.pathname + u.search : null;
  } catch {
    return null;
  }
}
