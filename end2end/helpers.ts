import { readFile } from "node:fs/promises";
import { expect, Locator, Page } from "@playwright/test";
import { SIMULATOR } from "./playwright.config";

/// Waits until the page's program has taken the page over (its buttons answer). Fails at once if
/// the program stopped instead: the page then says so (`data-stopped`), and no later step could pass.
export async function hydrated(page: Page) {
  await page.locator('body[data-hydrated="true"], body[data-stopped]').waitFor();
  if ((await page.locator("body[data-stopped]").count()) > 0) {
    throw new Error(`the page's program stopped on ${page.url()} (its panic is in the browser's console)`);
  }
}

/// Signs in as the admin 01-path.spec.ts created, and lands on Connectors.
export async function signIn(page: Page) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Email").fill("admin@example.com");
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/connectors$/);
}

/// The header's bar: the navigation, who is signed in, Log out. On a phone it is folded behind
/// "Menu", which this opens first.
export async function topBar(page: Page) {
  // A page with the header (after a login, the page it leads to).
  await page.locator("#top-bar").waitFor({ state: "attached" });
  const menu = page.getByRole("button", { name: "Menu" });
  if ((await menu.isVisible()) && (await menu.getAttribute("aria-expanded")) !== "true") {
    await menu.click();
  }
  const bar = page.locator("#top-bar");
  await expect(bar).toBeVisible();
  return bar;
}

/// Follows a link of the navigation, on a desktop or a phone.
export async function go(page: Page, link: string) {
  await (await topBar(page)).getByRole("link", { name: link }).click();
}

/// Opens a page of Switchboard and waits until it is interactive.
export async function open(page: Page, path: string) {
  await page.goto(path);
  await hydrated(page);
}

/// Sets the simulator's injected failures (an empty object clears them).
export async function faults(page: Page, faults: object) {
  const response = await page.request.post(`${SIMULATOR}/_sim/faults`, { data: faults });
  expect(response.ok()).toBeTruthy();
}

/// A guest's phone: the simulator's page, writing from `guest` to the WhatsApp number `to`.
export async function phoneOf(page: Page, guest: string, to = "+14155550100") {
  const phone = await page.context().newPage();
  await phone.goto(`${SIMULATOR}/?from=${encodeURIComponent(guest)}&to=${encodeURIComponent("whatsapp:" + to)}`);
  // The stand-in for the guest's phone fits a phone's screen too.
  const [scroll, width] = await phone.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  expect(scroll, "the simulator's page fits the screen's width").toBeLessThanOrEqual(width);
  return phone;
}

/// The guest writes; waits for a new reply and checks the newest one.
export async function say(phone: Page, text: string, expected: string | RegExp) {
  const replies = phone.locator("#thread .msg.reply");
  const before = await replies.count();
  await phone.getByLabel("Message").fill(text);
  await phone.getByRole("button", { name: "Send" }).click();
  await expect(phone.locator("#thread .msg.guest").last()).toContainText(text);
  await expect.poll(() => replies.count()).toBeGreaterThan(before);
  await expect(replies.last()).toContainText(expected);
}

/// Clicks a download link as a user does (the browser says the request comes from Switchboard's
/// own page) and returns the file's text.
export async function downloaded(page: Page, link: Locator): Promise<string> {
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  return readFile(await download.path(), "utf8");
}
