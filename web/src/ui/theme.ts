// Light and dark themes: follows the system unless the person picks one; the choice is kept per browser.

export type ThemeChoice = "system" | "light" | "dark";
const KEY = "plaza.theme";
const media = window.matchMedia("(prefers-color-scheme: dark)");
const listeners = new Set<() => void>();

export function themeChoice(): ThemeChoice {
  const v = localStorage.getItem(KEY);
  return v === "light" || v === "dark" ? v : "system";
}

/** The theme in effect now. */
export function currentTheme(): "light" | "dark" {
  const c = themeChoice();
  return c === "system" ? (media.matches ? "dark" : "light") : c;
}

function apply(): void {
  const t = currentTheme();
  document.documentElement.dataset.theme = t;
  document.querySelector('meta[name="theme-color"]')?.setAttribute("content", t === "dark" ? "#17212b" : "#ffffff");
  for (const l of listeners) l();
}

export function setTheme(choice: ThemeChoice): void {
  if (choice === "system") localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, choice);
  apply();
}

/** Called whenever the theme in effect changes (a mini app host passes it on). */
export function onThemeChange(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function initTheme(): void {
  media.addEventListener("change", () => themeChoice() === "system" && apply());
  apply();
}
