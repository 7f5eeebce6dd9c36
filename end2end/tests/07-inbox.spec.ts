import { Page } from "@playwright/test";
import { expect, test } from "../fixtures";
import { downloaded, faults, go, hydrated, open, phoneOf, say, signIn } from "../helpers";
import { SIMULATOR } from "../playwright.config";

// Runs after 06-sharing.spec.ts: the concierge answers on +14155550100 with open access.
const FALLBACK = "A colleague will get back to you.";
const BREAKFAST = "Breakfast is served from 7 to 10.";

/// Sets the concierge's inactivity period, in minutes, on its Conversations tab.
async function inactivity(page: Page, minutes: string) {
  await go(page, "Agents");
  await page.getByTestId("agents").getByRole("link", { name: "concierge" }).click();
  await page.getByRole("link", { name: "Conversations" }).click();
  await page.getByText("Conversation lifecycle").click();
  await page.getByLabel(/End a conversation after/).fill(minutes);
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(page.getByRole("status")).toHaveText("Saved.");
}

test("the inbox: live messages and ticks, filters, execution records, takeover, the end of a quiet conversation, the dashboard", async ({
  page,
}) => {
  await signIn(page);
  await go(page, "Inbox");
  await expect(page).toHaveURL(/\/inbox$/);
  await hydrated(page);
  const inbox = page.getByTestId("inbox");
  await expect(inbox).toContainText("concierge");

  // A new guest writes: the conversation appears in the open inbox without a reload.
  const dora = await phoneOf(page, "whatsapp:+15550006666");
  await say(dora, "Is the sauna open on Sundays?", FALLBACK);
  const row = inbox.locator("tr", { hasText: "+15550006666" });
  await expect(row).toContainText(FALLBACK);
  await expect(row.getByText("Live")).toBeVisible();

  // Filters: search, provider, state; each is in the address bar.
  await page.getByLabel("Search").fill("sauna");
  await page.getByLabel("Search").dispatchEvent("change");
  await expect(page).toHaveURL(/q=sauna/);
  await expect(inbox.locator("tbody tr")).toHaveCount(1);
  await expect(page.getByRole("link", { name: "CSV" })).toHaveAttribute("href", /\/export\/conversations\.csv\?q=sauna/);
  const csv = await downloaded(page, page.getByRole("link", { name: "CSV" }));
  expect(csv).toContain("+15550006666");
  await page.getByLabel("Provider").selectOption("sms");
  await expect(page.getByText("No conversations match.")).toBeVisible();
  await page.getByLabel("Provider").selectOption("whatsapp");
  await expect(inbox.locator("tbody tr")).toHaveCount(1);
  await page.getByLabel("State").selectOption("ended");
  await expect(page.getByText("No conversations match.")).toBeVisible();
  await page.getByLabel("State").selectOption("live");
  await expect(inbox.locator("tbody tr")).toHaveCount(1);

  // The conversation: a new message and its delivery ticks arrive live (the simulator holds
  // each status callback back for a second and a half).
  await inbox.locator("tbody tr").first().getByRole("link").click();
  await expect(page).toHaveURL(/\/conversations\/[0-9a-f]+$/);
  await hydrated(page);
  const history = page.getByTestId("history");
  await expect(history.locator(".msg.out").first()).toContainText(FALLBACK);
  await faults(page, { status_delay_ms: 1500 });
  await dora.getByLabel("Message").fill("When is breakfast?");
  await dora.getByRole("button", { name: "Send" }).click();
  await expect(history.locator(".msg.in").last()).toContainText("When is breakfast?");
  const reply = history.locator(".msg.out").last();
  await expect(reply).toContainText(BREAKFAST);
  const replyIndex = (await history.locator(".msg.out").count()) - 1;
  await expect(reply.getByTestId("tick")).toContainText(/sent|queued|pending/);
  await expect(reply.getByTestId("tick")).toHaveText("✓✓ read", { timeout: 20_000 });
  await faults(page, {});

  // Its execution record: the brain, its input and output, the send.
  await reply.getByText("Execution record").click();
  const record = reply.getByTestId("execution");
  await expect(record).toContainText("Built-in FAQ");
  await expect(record).toContainText('"When is breakfast?"');
  await expect(record).toContainText("1 attempt");

  // Takeover: the agent stays silent, staff reply, then hand back.
  await page.getByRole("button", { name: "Take over" }).click();
  await expect(page.getByTestId("takeover")).toContainText("Taken over by admin@example.com");
  const before = await history.locator(".msg.out").count();
  await dora.getByLabel("Message").fill("Can I speak to a person?");
  await dora.getByRole("button", { name: "Send" }).click();
  await expect(history.locator(".msg.in").last()).toContainText("Can I speak to a person?");
  // The record opened above stays open with its content through the live updates since.
  const kept = history.locator(".msg.out").nth(replyIndex).getByTestId("execution");
  await expect(kept).toBeVisible();
  await expect(kept).toContainText("Built-in FAQ");
  await page.waitForTimeout(1500);
  await expect(history.locator(".msg.out")).toHaveCount(before);
  await page.getByTestId("reply").getByLabel("Message").fill("Hi Dora, this is Marta from reception.");
  await page.getByTestId("reply").getByRole("button", { name: "Send" }).click();
  await expect(history.locator('.msg.out[data-origin="staff"]')).toContainText("Hi Dora, this is Marta");
  await expect(dora.locator("#thread .msg.reply").last()).toContainText("Hi Dora, this is Marta from reception.");
  await page.getByRole("button", { name: "Hand back to the agent" }).click();
  await expect(page.getByRole("button", { name: "Take over" })).toBeVisible();
  await say(dora, "When is breakfast?", BREAKFAST);
  const conversation = page.url();

  // A quiet conversation ends after the agent's inactivity period (here 6 seconds), live.
  await inactivity(page, "0.1");
  await open(page, conversation);
  await expect(page.getByTestId("state")).toHaveText("Ended", { timeout: 20_000 });
  await open(page, "/inbox?state=ended");
  await expect(page.getByTestId("inbox")).toContainText("+15550006666");
  await inactivity(page, "10");

  // The dashboard, as charts.
  await go(page, "Dashboard");
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("per-day").locator("svg g[data-day]")).toHaveCount(14);
  await expect(page.getByTestId("totals")).toContainText(/\d+ in · \d+ out/);
  await expect(page.getByTestId("reply-time")).toContainText(/\d+(\.\d)? (ms|s|min)/);
  await expect(page.getByTestId("health")).toContainText("Front Desk");
  await expect(page.getByTestId("health")).toContainText("Connected");
  await expect(page.getByTestId("failures")).toBeVisible();
  await expect(page.getByTestId("rejections")).toBeVisible();

});

test("the inbox pages by place: older and newer pages hold while guests write", async ({ page }) => {
  // Thirty new guests write (through the simulator, as Twilio would deliver them).
  for (let i = 0; i < 30; i++) {
    const from = `whatsapp:+1555010${String(i).padStart(4, "0")}`;
    const sent = await page.request.post(`${SIMULATOR}/_sim/inbound`, {
      data: { to: "whatsapp:+14155550100", from, body: `Guest ${i} asks about the zeppelin`, media: [] },
    });
    expect(sent.ok()).toBeTruthy();
  }
  await signIn(page);
  await open(page, "/inbox?q=zeppelin");
  const inbox = page.getByTestId("inbox");
  await expect(inbox.locator("tbody tr")).toHaveCount(25, { timeout: 20_000 });
  const firstPage = await inbox.locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-conversation")));
  await expect(page.getByRole("button", { name: "← Newer" })).toHaveCount(0);

  // A guest writes meanwhile; the older page goes on from where this one ended.
  const sent = await page.request.post(`${SIMULATOR}/_sim/inbound`, {
    data: { to: "whatsapp:+14155550100", from: "whatsapp:+15550109999", body: "A zeppelin mooring for a van?", media: [] },
  });
  expect(sent.ok()).toBeTruthy();
  await page.getByRole("button", { name: "Older →" }).click();
  await expect(page).toHaveURL(/[?&]after=/);
  await expect(page).toHaveURL(/q=zeppelin/);
  const older = inbox.locator("tbody tr");
  await expect(older).toHaveCount(5);
  for (const id of await older.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-conversation")))) {
    expect(firstPage).not.toContain(id);
  }
  await expect(page.getByRole("button", { name: "Older →" })).toHaveCount(0);

  // Back: the page just above, then the newest (with the van).
  await page.getByRole("button", { name: "← Newer" }).click();
  await expect(page).toHaveURL(/[?&]before=/);
  await expect(inbox.locator("tbody tr")).toHaveCount(25);
  await page.getByRole("button", { name: "« Newest" }).click();
  await expect(page).not.toHaveURL(/after=|before=/);
  await expect(inbox.locator("tbody tr").first()).toContainText("+15550109999");
});

// Once a guest's 24-hour window has closed, a conversation taken over offers the approved
// templates. The window is closed on the way to the browser: every read of the conversation
// after the page loaded says so, where the page came with it open and not taken over, so the
// templates are read when the page sees the change.
test("a conversation taken over outside the 24-hour window offers the approved templates", async ({ page }) => {
  await signIn(page);
  // A guest of its own: later files take the newest conversation over, or write as their guests.
  const guest = await phoneOf(page, "whatsapp:+15550003333");
  await say(guest, "Is the sauna open on Sundays?", FALLBACK);
  await open(page, "/inbox");
  await page.getByTestId("inbox").locator("tr", { hasText: "+15550003333" }).getByRole("link").click();
  await expect(page).toHaveURL(/\/conversations\/[0-9a-f]+$/);
  await hydrated(page);
  await page.route(/\/ui\/conversation$/, async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, json: { ...(await response.json()), window_open: false } });
  });
  await page.getByRole("button", { name: "Take over" }).click();
  const reply = page.getByTestId("reply");
  await expect(reply).toContainText("The guest's 24-hour window has closed");
  await expect(reply.locator('label[data-template="follow_up"]')).toBeVisible();
  await expect(reply.locator('label[data-template="spring_promo"]'), "a rejected template is not offered").toHaveCount(0);
  // A read of the conversation still on its way goes on unaltered: removed by default, the route
  // failed the test once in a while ("Route is already handled!"), when its handler answered such
  // a read after the route was gone.
  await page.unrouteAll({ behavior: "ignoreErrors" });
  await page.getByRole("button", { name: "Hand back to the agent" }).click();
  await expect(page.getByRole("button", { name: "Take over" })).toBeVisible();
});
