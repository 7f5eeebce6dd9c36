import { expect, test } from "../fixtures";
import { downloaded, go, hydrated, open, phoneOf, say, signIn } from "../helpers";

// Runs after 07-inbox.spec.ts: the concierge answers on +14155550100 with open access.
test("privacy: a guest's /forget approved, a guest forgotten from their conversation, the audit log", async ({
  page,
}) => {
  await signIn(page);
  await go(page, "Privacy");
  await expect(page).toHaveURL(/\/privacy$/);
  await hydrated(page);
  const requests = page.getByTestId("forget-requests");
  await expect(requests).toContainText("No request is waiting.");
  await expect(page.getByLabel(/An admin approves each request/)).toBeChecked();

  // A guest asks to be forgotten; an admin approves.
  const erin = await phoneOf(page, "whatsapp:+15550017771");
  await say(erin, "Hello", /./);
  await say(erin, "/forget", "Your request to be forgotten was sent to");
  await open(page, "/privacy");
  const row = requests.locator("tr", { hasText: "+15550017771" });
  await expect(row).toContainText("1 conversation, 4 messages");
  await row.getByRole("button", { name: "Forget now" }).click();
  await expect(requests.getByRole("status")).toContainText("Forgotten: 1 conversation, 4 messages");
  await expect(requests).toContainText("No request is waiting.");

  // An admin forgets a guest from their conversation's page, after a confirmation.
  const fay = await phoneOf(page, "whatsapp:+15550018881");
  await say(fay, "Is there parking?", /./);
  await open(page, "/inbox");
  await page.getByTestId("inbox").locator("tr", { hasText: "+15550018881" }).getByRole("link").first().click();
  await expect(page).toHaveURL(/\/conversations\/[0-9a-f]+$/);
  await hydrated(page);
  await page.getByRole("button", { name: "Forget this guest…" }).click();
  await expect(page.getByRole("alert")).toContainText("This cannot be undone.");
  await page.getByRole("button", { name: "Yes, forget this guest" }).click();
  await expect(page.getByRole("heading", { name: "Guest forgotten" })).toBeVisible();
  await expect(page.getByTestId("forgotten")).toContainText("1 conversation, 2 messages");
  await open(page, "/inbox");
  await expect(page.getByTestId("inbox")).not.toContainText("+15550018881");

  // How long messages are kept: a bad period is refused, a good one saved and on the dashboard.
  await open(page, "/privacy");
  const retention = page.getByTestId("retention");
  await retention.getByLabel("Days (empty: until deleted)").fill("3");
  await retention.getByRole("button", { name: "Save period" }).click();
  await expect(retention.getByRole("alert")).toContainText("from 7 to 3650");
  await retention.getByLabel("Days (empty: until deleted)").fill("365");
  await retention.getByRole("button", { name: "Save period" }).click();
  await expect(retention.getByRole("status")).toHaveText("Saved.");
  await open(page, "/dashboard");
  await expect(page.getByTestId("retention")).toContainText("kept for 365 days");

  // The audit log says it twice, without the guests; its CSV too.
  await open(page, "/audit");
  const audit = page.getByTestId("audit");
  await expect(page.getByTestId("audit-kept")).toHaveText("Each line is kept for 730 days, then deleted.");
  await expect(audit.locator("tbody tr").first()).toContainText("Retention period changed");
  await expect(audit.locator("tr", { hasText: "Guest forgotten" })).toHaveCount(2);
  await expect(audit).not.toContainText("5550017771");
  const csv = await downloaded(page, page.getByRole("link", { name: "CSV" }));
  expect(csv).toContain("Guest forgotten");
  expect(csv).not.toContain("5550018881");
});
