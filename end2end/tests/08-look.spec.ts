import AxeBuilder from "@axe-core/playwright";
import { Page } from "@playwright/test";
import { expect, test } from "../fixtures";
import { hydrated, open, signIn } from "../helpers";
import { PHONE } from "../playwright.config";

// Runs last, when the earlier specs have left a connector, agents, conversations, users and
// tokens behind: every page, on a desktop and on a phone, is checked by axe-core and for
// sideways scrolling; then the main path is walked with the keyboard alone.

const SIZES = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 360, height: 740 },
];

/// The addresses of every kind of page, found by following the app's own links.
async function pages(page: Page): Promise<string[]> {
  await open(page, "/connectors");
  const connector = await page.getByTestId("connectors").getByRole("link").first().getAttribute("href");
  await open(page, "/agents");
  const agent = await page.getByTestId("agents").getByRole("link", { name: "concierge" }).getAttribute("href");
  await open(page, "/inbox");
  const conversation = await page.getByTestId("inbox").locator("tbody tr a").first().getAttribute("href");
  expect(connector && agent && conversation, "the earlier specs left data to show").toBeTruthy();
  return [
    "/connectors",
    "/connectors/new",
    connector!,
    "/agents",
    "/agents/new",
    agent!,
    `${agent}/channels`,
    `${agent}/sharing`,
    `${agent}/conversations`,
    "/inbox",
    conversation!,
    "/dashboard",
    "/users",
    "/tokens",
    "/privacy",
    "/audit",
    "/no-such-page",
  ];
}

async function check(page: Page, where: string) {
  // Every rule axe-core runs by default: WCAG 2.x A and AA and its best practices.
  const results = await new AxeBuilder({ page }).analyze();
  const found = results.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.target.join(" ")).join("\n    ")}`,
  );
  expect(found, `accessibility of ${where}`).toEqual([]);
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  expect(scroll, `${where} fits the screen's width`).toBeLessThanOrEqual(width);
}

for (const size of SIZES) {
  test(`every page on a ${size.name} (${size.width} px): no accessibility violation, nothing wider than the screen`, async ({
    page,
  }) => {
    test.skip(PHONE, "sets both sizes itself: the desktop run has it");
    await page.setViewportSize({ width: size.width, height: size.height });
    await open(page, "/login");
    await check(page, `/login (${size.name})`);
    await signIn(page);
    for (const path of await pages(page)) {
      await open(page, path);
      await check(page, `${path} (${size.name})`);
      await page.screenshot({ path: `test-results/screens/${size.name}${path.replace(/\//g, "_")}.png`, fullPage: true });
    }
  });
}

test("on a phone the navigation folds behind a Menu button that says whether it is open", async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await signIn(page);
  const menu = page.getByRole("button", { name: "Menu" });
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(menu).toHaveAttribute("aria-expanded", "false");
  await expect(nav).toBeHidden();
  await menu.click();
  await expect(menu).toHaveAttribute("aria-expanded", "true");
  await nav.getByRole("link", { name: "Inbox" }).click();
  await expect(page).toHaveURL(/\/inbox$/);
  await expect(nav).toBeHidden();
  // On a desktop there is no button: the links are always there.
  await page.setViewportSize({ width: 1280, height: 800 });
  await expect(menu).toBeHidden();
  await expect(nav.getByRole("link", { name: "Inbox" })).toBeVisible();
});

test("the main path by keyboard alone, every stop visibly focused", async ({ page }) => {
  await signIn(page);
  await open(page, "/connectors");
  /// Tabs forward until the focused element has `name`; each stop must show its focus.
  async function tabTo(name: RegExp) {
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press("Tab");
      const stop = await page.evaluate(() => {
        const el = document.activeElement as HTMLElement | null;
        if (!el || el === document.body) return null;
        const s = getComputedStyle(el);
        const label = (el.getAttribute("aria-label") || el.textContent || (el as HTMLInputElement).value || "").trim();
        return { label, outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2 };
      });
      if (!stop) continue;
      expect(stop.outline, `"${stop.label}" shows that it has the focus`).toBe(true);
      if (name.test(stop.label)) return;
    }
    throw new Error(`no focusable element named ${name} within 40 tabs`);
  }
  if (PHONE) {
    // On a phone the links are folded behind Menu, which opens from the keyboard too.
    await tabTo(/^Menu$/);
    await page.keyboard.press("Enter");
  }
  await tabTo(/^Agents$/);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/agents$/);
  await hydrated(page);
  await tabTo(/^concierge$/);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/agents\/[0-9a-f]+$/);
  await tabTo(/^Conversations$/);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/conversations$/);
  await hydrated(page);
  const guest = (await page.getByTestId("inbox").locator("tbody tr a").first().textContent())!.trim();
  await tabTo(new RegExp(`^${guest.replace(/[+.]/g, "\\$&")}$`));
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/conversations\/[0-9a-f]+$/);
  await tabTo(/^(Take over|Hand back to the agent)$/);
  const before = await page.getByRole("button", { name: /^(Take over|Hand back to the agent)$/ }).textContent();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("button", { name: /^(Take over|Hand back to the agent)$/ })).not.toHaveText(before!);
});
