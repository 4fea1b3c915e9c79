// Amounts as people read them: Stars (`XTR`) are whole numbers ("⭐️ 100"), other currencies have
// two decimals in their smallest units ("12.50 USD"); and the keys that name a payment attempt.

export const STARS = "XTR";

/** "⭐️ 100" or "12.50 USD". */
export function price(amount: number, currency: string): string {
  if (currency === STARS) return `⭐️ ${amount < 0 ? "−" : ""}${Math.abs(amount)}`;
  const a = Math.abs(amount);
  return `${amount < 0 ? "−" : ""}${Math.floor(a / 100)}.${String(a % 100).padStart(2, "0")} ${currency}`;
}

/** A change of a balance: "+50 ⭐️", "−5 ⭐️". */
export function signedStars(amount: number): string {
  return `${amount > 0 ? "+" : amount < 0 ? "−" : ""}${Math.abs(amount)} ⭐️`;
}

/** A subscription period after a slash: "month" for 30 days (Telegram's only period), else days
 *  or seconds (a sandbox's short periods). */
export function period(seconds: number): string {
  if (seconds === 30 * 86400) return "month";
  if (seconds === 86400) return "day";
  if (seconds % 86400 === 0) return `${seconds / 86400} days`;
  return seconds === 1 ? "second" : `${seconds} seconds`;
}

/** "⭐️ 100 / month". */
export function subscriptionPrice(amount: number, seconds: number): string {
  return `${price(amount, STARS)} / ${period(seconds)}`;
}

/** A random key naming one payment attempt or top-up (a retry with it is the same request). */
export function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID needs a secure context; getRandomValues does not.
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** "12 March 2025". */
export function longDate(unix: number): string {
  return new Date(unix * 1000).toLocaleDateString([], { day: "numeric", month: "long", year: "numeric" });
}
