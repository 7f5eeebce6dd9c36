import { Page } from "@playwright/test";
import { expect, test } from "../fixtures";
import { go, hydrated, topBar } from "../helpers";
import { PHONE } from "../playwright.config";

// A first visit to the backoffice over a slow connection: a page, signed in, with an
// empty cache and Chromium's "Fast 3G" profile (562.5 ms of latency, 1.44 Mbit/s down, 675 kbit/s
// up). Prints what went over the wire, file by file, and when the page became interactive. The
// figures are measurements for docs/performance.md, not pass marks; what is checked is that the
// page arrives whole and interactive on such a connection, and that its program comes compressed.

const FAST_3G = { offline: false, latency: 562.5, downloadThroughput: 180_000, uploadThroughput: 84_375 };

/** Signs in, then opens `path` with an empty cache on Fast 3G; prints and returns what went over the wire. */
async function firstLoad(page: Page, path: string) {
  const login = await page.request.post("/ui/login", {
    headers: { Accept: "application/json" },
    form: { email: "admin@example.com", password: "correct horse battery" },
  });
  expect(login.ok(), await login.text()).toBeTruthy();

  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  await cdp.send("Network.emulateNetworkConditions", FAST_3G);
  const files = new Map<string, { url: string; encoding: string; bytes: number }>();
  cdp.on("Network.responseReceived", (e) => {
    const headers = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), v]));
    files.set(e.requestId, { url: e.response.url, encoding: String(headers["content-encoding"] ?? "none"), bytes: 0 });
  });
  cdp.on("Network.loadingFinished", (e) => {
    const file = files.get(e.requestId);
    if (file) file.bytes = e.encodedDataLength;
  });

  await page.goto(path, { waitUntil: "commit" });
  // Measured by the browser from the start of the navigation (checked every frame): when the
  // page was first painted (its links work from then: they are plain links), and when the
  // program had taken it over.
  const takeover = await page.waitForFunction(
    () => (document.body?.dataset.hydrated === "true" || document.body?.dataset.stopped !== undefined) && performance.now(),
    null,
    { timeout: 60_000 },
  );
  const hydrated = (await takeover.jsonValue()) as number;
  expect(await page.locator("body[data-stopped]").count(), `the program of ${path} stopped`).toBe(0);
  await page.waitForLoadState("networkidle");
  const painted = await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1);

  const loaded = [...files.values()].filter((f) => f.bytes > 0);
  const total = loaded.reduce((sum, f) => sum + f.bytes, 0);
  const lines = loaded.map((f) => `  ${new URL(f.url).pathname.padEnd(48)} ${(f.bytes / 1000).toFixed(1).padStart(8)} kB  ${f.encoding}`);
  console.log(
    [
      `First load of ${path} on Fast 3G (empty cache, signed in):`,
      ...lines,
      `  total transferred: ${(total / 1000).toFixed(1)} kB in ${loaded.length} files`,
      `  painted, its links usable, after ${Math.round(painted)} ms; the program took over after ${Math.round(hydrated)} ms`,
    ].join("\n"),
  );
  return loaded;
}

test("the first load of Connectors on a Fast 3G connection", async ({ page }) => {
  const loaded = await firstLoad(page, "/connectors");
  await expect(page.getByTestId("connectors").getByRole("link").first()).toBeVisible();
  const programs = loaded.filter((f) => f.url.endsWith(".wasm"));
  expect(programs.map((f) => new URL(f.url).pathname), "Connectors needs only the main program").toEqual(["/pkg/app_bg.wasm"]);
  expect(["br", "gzip"], `the program is compressed (${programs[0].encoding})`).toContain(programs[0].encoding);
});

// A page outside the main program: the server's preload links fetch its feature's part beside the
// main program, and the page hydrates with it.
test("the first load of an agent's page on a Fast 3G connection", async ({ page }) => {
  const loaded = await firstLoad(page, "/agents");
  await expect(page.getByRole("heading", { name: "Agents", level: 1 })).toBeVisible();
  const programs = loaded.filter((f) => f.url.endsWith(".wasm"));
  expect(programs.some((f) => /\/split_agent_pages_\d+\.wasm$/.test(f.url)), "the agents' part was fetched").toBeTruthy();
  for (const f of programs) expect(["br", "gzip"], `${f.url} is compressed`).toContain(f.encoding);
});

// The page is usable from its first paint: it arrives whole (the server renders it, its look
// inside it) and its links are plain links. Shown with the program kept from arriving at all.
test.describe(() => {
  // The program is kept from arriving: the browser says it could not fetch it.
  test.use({ expectedErrors: /the server responded with a status of 4\d\d|net::ERR_FAILED|^Failed to fetch$/ });
  test("Connectors is usable before its program arrives", async ({ page }) => {
    const login = await page.request.post("/ui/login", {
      headers: { Accept: "application/json" },
      form: { email: "admin@example.com", password: "correct horse battery" },
    });
    expect(login.ok(), await login.text()).toBeTruthy();
    await page.route(/\.wasm$/, (route) => route.abort());
    await page.goto("/connectors");
    const list = page.getByTestId("connectors");
    const first = list.getByRole("link").first();
    const name = (await first.textContent())!.trim();
    await expect(page.locator("header.top")).toHaveCSS("background-color", "rgb(31, 61, 90)");
    const sheets = await page.evaluate(() => [...document.styleSheets].map((s) => s.href ?? "inside the page"));
    expect(sheets, "the look comes inside the page, without a request of its own").toEqual(["inside the page"]);
    await first.click();
    await expect(page).toHaveURL(/\/connectors\/[0-9a-f]+$/);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText(name);
    // The header too: the navigation (behind Menu on a phone) and Log out.
    await go(page, "Agents");
    await expect(page).toHaveURL(/\/agents$/);
    await expect(page.getByRole("heading", { name: "Agents", level: 1 })).toBeVisible();
    await (await topBar(page)).getByRole("button", { name: "Log out" }).click();
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByRole("button", { name: "Log in" })).toBeVisible();
    await expect(page.locator("body")).not.toHaveAttribute("data-hydrated", "true");
  });
});

// On a slow link a person may choose before the page's program has taken it over: the choice is
// kept and acted on once it has. Here the agents' part of the program is held back 3 s while the
// connector is chosen on an agent's Channels page.
test("a connector chosen before the program takes over still shows its numbers", async ({ page }) => {
  const login = await page.request.post("/ui/login", {
    headers: { Accept: "application/json" },
    form: { email: "admin@example.com", password: "correct horse battery" },
  });
  expect(login.ok(), await login.text()).toBeTruthy();
  const agents = await (await page.request.get("/agents")).text();
  const agent = agents.match(/href="(\/agents\/[0-9a-f]+)"[^>]*>concierge</)?.[1];
  expect(agent, "the concierge agent is listed").toBeTruthy();
  await page.route(/split_agent_pages_\d+\.wasm$/, async (route) => {
    await new Promise((done) => setTimeout(done, 3000));
    await route.continue();
  });
  await page.goto(`${agent}/channels`);
  const form = page.getByTestId("add-channel");
  await form.getByLabel("Connector").selectOption({ label: "Front Desk" });
  await expect(form.locator("label[data-number]").first()).toBeVisible({ timeout: 20_000 });
});

// The same on an agent's page, whose template section lists the templates of the connector chosen:
// an agent with no template yet, its connector chosen while the program is held back.
test("a template's connector chosen before the program takes over still lists its templates", async ({ page }) => {
  const login = await page.request.post("/ui/login", {
    headers: { Accept: "application/json" },
    form: { email: "admin@example.com", password: "correct horse battery" },
  });
  expect(login.ok(), await login.text()).toBeTruthy();
  const created = await page.request.post("/ui/create_agent", {
    headers: { Accept: "application/json" },
    form: { name: "night-desk", fallback_reply: "The night desk answers soon." },
  });
  expect(created.ok(), await created.text()).toBeTruthy();
  const agent = (await created.json()).id as string;
  await page.route(/split_agent_pages_\d+\.wasm$/, async (route) => {
    await new Promise((done) => setTimeout(done, 3000));
    await route.continue();
  });
  await page.goto(`/agents/${agent}`);
  const template = page.getByTestId("template");
  await template.getByLabel("Connector").selectOption({ label: "Front Desk" });
  await expect(template.locator('label[data-template="follow_up"]')).toBeVisible({ timeout: 20_000 });
  const deleted = await page.request.post("/ui/delete_agent", { headers: { Accept: "application/json" }, form: { id: agent } });
  expect(deleted.ok(), await deleted.text()).toBeTruthy();
});

// A page whose program stops (here the page is altered on its way, so that it no longer matches
// what the program builds) says so, with a link that loads it again; the marker the other tests
// wait for is not set.
test.describe(() => {
  // The program stops on purpose: its panic, where hydration met the altered page, is expected
  // (worded at more length by a build with `--cfg leptos_debuginfo`).
  test.use({
    expectedErrors:
      /the server responded with a status of 4\d\d|tachys-[\d.]+\/src\/hydration\.rs:\d+:\d+:\n(internal error: entered unreachable code|Unrecoverable hydration error)|^A hydration error occurred|^unreachable$/,
  });
  /** Signs in and opens the Connectors page altered on its way the first time, so that its program stops there. */
  async function stoppedConnectors(page: Page) {
    const login = await page.request.post("/ui/login", {
      headers: { Accept: "application/json" },
      form: { email: "admin@example.com", password: "correct horse battery" },
    });
    expect(login.ok(), await login.text()).toBeTruthy();
    const stopped: string[] = [];
    page.on("pageerror", (e) => stopped.push(e.message));
    let altered = 0;
    await page.route(/\/connectors$/, async (route) => {
      const response = await route.fetch();
      const html = await response.text();
      // The first time, a connector's Account SID (text the program expects) wrapped in an element.
      const changed = altered > 0 ? html : html.replace(/<td class="mono">([^<]+)/, '<td class="mono"><b>$1</b>');
      if (changed !== html) altered++;
      await route.fulfill({ response, body: changed });
    });
    await page.goto("/connectors");
    expect(altered, "an Account SID was found to alter").toBe(1);
    const note = page.getByRole("alert").filter({ hasText: "This page stopped working." });
    await expect(note).toBeVisible();
    expect(stopped.length, "the program stopped").toBeGreaterThan(0);
    await expect(page.locator("body")).not.toHaveAttribute("data-hydrated", "true");
    return note;
  }

  test("a page whose program stops says so and offers to load it again", async ({ page }) => {
    const note = await stoppedConnectors(page);
    // Loaded again (unaltered now), the page works.
    await expect(note.getByRole("link", { name: "Load it again" }), "the way on has the focus").toBeFocused();
    await Promise.all([page.waitForEvent("load"), note.getByRole("link", { name: "Load it again" }).click()]);
    await hydrated(page);
    await expect(page.getByRole("alert").filter({ hasText: "This page stopped working." })).toHaveCount(0);
    await expect(page.getByRole("heading", { name: "Connectors", level: 1 })).toBeVisible();
  });

  test("past a stop, the top bar's links still lead on, behind Menu on a phone", async ({ page }) => {
    await stoppedConnectors(page);
    // Past the program, the page's own script opens Menu (and says so).
    const bar = await topBar(page);
    if (PHONE) {
      const menu = page.getByRole("button", { name: "Menu" });
      await expect(menu).toHaveAttribute("aria-expanded", "true");
      // A second tap folds the links again (the button keeps the focus), a third opens them.
      await menu.click();
      await expect(menu).toHaveAttribute("aria-expanded", "false");
      await expect(bar).toBeHidden();
      await menu.click();
      await expect(bar).toBeVisible();
    }
    await Promise.all([page.waitForEvent("load"), bar.getByRole("link", { name: "Agents" }).click()]);
    await expect(page).toHaveURL(/\/agents$/);
    await hydrated(page);
    await expect(page.getByRole("heading", { name: "Agents", level: 1 })).toBeVisible();
  });

  test("past a stop, a form still goes to the server: Log out signs out", async ({ page }) => {
    await stoppedConnectors(page);
    // The browser posts the form itself; the server signs out and leads back, to the login.
    await Promise.all([page.waitForEvent("load"), (await topBar(page)).getByRole("button", { name: "Log out" }).click()]);
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByRole("button", { name: "Log in" })).toBeVisible();
    // Signed out for good: the session no longer opens a page (one this test does not alter on its way).
    await page.goto("/agents");
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByRole("button", { name: "Log in" })).toBeVisible();
  });
});
