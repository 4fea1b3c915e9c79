// Message text with its entities (offsets in UTF-16 code units, which is what JavaScript strings
// index by) rendered as DOM, never as HTML. Entities may nest or overlap; a stack of open entities
// is kept per segment between entity boundaries, so each properly nested entity becomes one element.

import type { Entity, Message } from "./api.js";
import { h } from "./dom.js";
import { internalPath } from "./links.js";
import { price } from "./money.js";

export interface TextActions {
  /** A `/command` was clicked. */
  command(text: string): void;
  /** An `@username` was clicked. */
  mention(username: string): void;
  /** A link to a chat or mini app inside Plaza (or t.me) was clicked; true if it was opened. */
  internalLink?(path: string): boolean;
}

const SAFE_SCHEMES = ["http:", "https:", "mailto:", "tel:", "tg:"];

function safeUrl(raw: string): string | null {
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:/i.test(raw) ? raw : `https://${raw}`);
    return SAFE_SCHEMES.includes(u.protocol) ? u.href : null;
  } catch {
    return null;
  }
}

function link(href: string | null, text: string, actions: TextActions): HTMLElement {
  if (!href) return h("span");
  const a = h("a", { href, target: "_blank", rel: "noopener noreferrer", title: href !== text ? href : undefined });
  const path = internalPath(href);
  if (path !== null && actions.internalLink) {
    a.addEventListener("click", (ev) => {
      if (actions.internalLink?.(path)) ev.preventDefault();
    });
  }
  return a;
}

function element(e: Entity, text: string, actions: TextActions): HTMLElement {
  const inner = text.slice(e.offset, e.offset + e.length);
  switch (e.type) {
    case "bold":
      return h("strong");
    case "italic":
      return h("em");
    case "underline":
      return h("u");
    case "strikethrough":
      return h("s");
    case "spoiler": {
      const el = h("span", { class: "spoiler", tabindex: "0", role: "button", "aria-label": "Spoiler, press to reveal" });
      const reveal = () => {
        el.classList.add("revealed");
        el.removeAttribute("role");
        el.removeAttribute("tabindex");
        el.removeAttribute("aria-label");
      };
      el.addEventListener("click", reveal, { once: true });
      el.addEventListener("keydown", (ev) => (ev.key === "Enter" || ev.key === " ") && reveal());
      return el;
    }
    case "code":
      return h("code");
    case "pre":
      return h("pre", { "data-language": e.language });
    case "blockquote":
    case "expandable_blockquote":
      return h("blockquote", { class: e.type === "expandable_blockquote" ? "expandable" : undefined });
    case "text_link":
      return link(safeUrl(e.url ?? ""), inner, actions);
    case "url":
      return link(safeUrl(inner), inner, actions);
    case "email":
      return link(`mailto:${inner}`, inner, actions);
    case "phone_number":
      return link(`tel:${inner.replace(/[^+\d]/g, "")}`, inner, actions);
    case "mention": {
      const a = h("a", { href: `/${inner.slice(1)}`, class: "mention" });
      a.addEventListener("click", (ev) => {
        ev.preventDefault();
        actions.mention(inner.slice(1));
      });
      return a;
    }
    case "text_mention":
      return h("span", { class: "mention" });
    case "bot_command": {
      const a = h("a", { href: "#", class: "command" });
      a.addEventListener("click", (ev) => {
        ev.preventDefault();
        actions.command(inner);
      });
      return a;
    }
    case "hashtag":
    case "cashtag":
      return h("span", { class: "tag" });
    default:
      return h("span");
  }
}

export function renderText(text: string, entities: Entity[] | undefined, actions: TextActions): DocumentFragment {
  const frag = document.createDocumentFragment();
  const ents = (entities ?? [])
    .filter((e) => e.length > 0 && e.offset >= 0 && e.offset + e.length <= text.length)
    .sort((a, b) => a.offset - b.offset || b.length - a.length);
  if (ents.length === 0) {
    frag.append(text);
    return frag;
  }
  const points = new Set<number>([0, text.length]);
  for (const e of ents) {
    points.add(e.offset);
    points.add(e.offset + e.length);
  }
  const cuts = [...points].sort((a, b) => a - b);
  // The open entities and their elements, outermost first; the root is the fragment.
  const stack: { e: Entity | null; el: Node }[] = [{ e: null, el: frag }];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const [from, to] = [cuts[i], cuts[i + 1]];
    const active = ents.filter((e) => e.offset <= from && e.offset + e.length >= to);
    // Keep the longest prefix of the stack that is still active in the same order.
    let keep = 1;
    while (keep < stack.length && keep - 1 < active.length && stack[keep].e === active[keep - 1]) keep++;
    stack.length = keep;
    for (const e of active.slice(keep - 1)) {
      const el = element(e, text, actions);
      stack[stack.length - 1].el.appendChild(el);
      stack.push({ e, el });
    }
    stack[stack.length - 1].el.appendChild(document.createTextNode(text.slice(from, to)));
  }
  return frag;
}

/** The text a chat list shows for a message: its text, or what it carries. */
export function snippet(m: Message): string {
  if (m.service?.type === "web_app_data") return "sent data to the bot";
  if (m.service?.type === "write_access_allowed") return "allowed the bot to send messages";
  if (m.service?.type === "contact") return "👤 Contact";
  if (m.service?.type === "successful_payment") return `💳 Paid ${price(m.service.receipt.total_amount, m.service.receipt.currency)}`;
  if (m.service?.type === "refunded_payment") return `💳 ${price(m.service.receipt.total_amount, m.service.receipt.currency)} refunded`;
  if (m.service) return "pinned a message";
  if (m.invoice) return `🧾 ${m.invoice.title}`;
  if (m.poll) return `📊 ${m.poll.question}`;
  if (m.media) return `${m.media.kind === "photo" ? "🖼 Photo" : `📎 ${m.media.file_name ?? "File"}`}${m.text ? `, ${m.text}` : ""}`;
  return m.text;
}
