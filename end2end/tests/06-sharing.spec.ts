import { Page } from "@playwright/test";
import { expect, test } from "../fixtures";
import { go, hydrated, open, phoneOf, say, signIn } from "../helpers";

// Runs after 01-path.spec.ts (its admin, the "Front Desk" connector and the FAQ agent
// "concierge") and 04-roles.spec.ts (whose agent "owners-bot" holds the WhatsApp number at its
// end). Each access policy, driven from the simulator's phone; codes are read from the
// simulator's mailbox, which receives Switchboard's email over SMTP.
const SENDER = "+14155550100";
const BREAKFAST = "Breakfast is served from 7 to 10.";

/// The newest code sent to `email`, read from the simulator's Mailbox.
async function codeFor(phone: Page, email: string) {
  const mail = phone.locator(`#mailbox .mail[data-to="${email}"]`).first();
  await expect(mail).toContainText("Your verification code");
  const text = (await mail.locator("pre").textContent()) ?? "";
  const code = text.match(/\b(\d{6})\b/)?.[1];
  expect(code, text).toBeTruthy();
  return code!;
}

async function choosePolicy(page: Page, label: string, onboarding: boolean, message = "") {
  const policy = page.getByTestId("policy");
  await policy.getByRole("radio", { name: new RegExp(label) }).check();
  const box = policy.getByRole("checkbox", { name: /Onboarding/ });
  if (onboarding) await box.check();
  else await box.uncheck();
  await policy.getByLabel(/Onboarding message/).fill(message);
  await policy.getByRole("button", { name: "Save access" }).click();
  await expect(policy.getByRole("status")).toHaveText("Saved.");
}

function request(page: Page, who: string) {
  return page.getByTestId("requests").locator(`tr[data-who="${who}"]`);
}

test("each access policy, from the guest's phone to the Sharing page and back", async ({ page }) => {
  await signIn(page);

  // The number's webhook points at Switchboard (an earlier test regenerated the URL).
  await page.getByTestId("connectors").getByRole("link", { name: "Front Desk" }).click();
  await hydrated(page);
  const row = page
    .locator(`tr[data-number="${SENDER}"]`)
    .locator('[data-provider="WhatsApp"]')
    .filter({ has: page.getByRole("button") });
  await row.getByRole("button", { name: "Set webhook" }).click();
  await expect(row.getByTestId("webhook-state")).toHaveText("Webhook configured");

  // The WhatsApp number goes back to the concierge.
  await go(page, "Agents");
  await page.getByTestId("agents").getByRole("link", { name: "owners-bot" }).click();
  await page.getByRole("link", { name: "Channels" }).click();
  await page.getByTestId("channels").getByRole("button", { name: "Remove" }).click();
  await expect(page.getByText("This agent answers on no number yet.")).toBeVisible();
  await go(page, "Agents");
  await page.getByTestId("agents").getByRole("link", { name: "concierge" }).click();
  await page.getByRole("link", { name: "Channels" }).click();
  await page.getByLabel("Connector").selectOption({ label: "Front Desk" });
  await page.locator(`label[data-number="${SENDER}"]`).filter({ hasText: "WhatsApp" }).getByRole("radio").check();
  await page.getByRole("button", { name: "Add channel" }).click();
  await expect(page.getByTestId("channels")).toContainText(SENDER);
  await page.getByRole("link", { name: "Sharing" }).click();
  await expect(page).toHaveURL(/\/agents\/[0-9a-f]+\/sharing$/);
  const sharing = page.url();
  await expect(page.getByTestId("policy").getByRole("radio", { name: /Open access/ })).toBeChecked();
  await expect(page.getByText("No access requests.")).toBeVisible();

  // Require email: the guest is prompted, asks for a code, mistypes it, then verifies.
  await choosePolicy(page, "Require email", false);
  const ana = await phoneOf(page, "whatsapp:+15550007777");
  await say(ana, "When is breakfast?", "Send /login followed by your email address");
  await say(ana, "/login ana@example.com", "We sent a 6-digit code to ana@example.com");
  const code = await codeFor(ana, "ana@example.com");
  await say(ana, `/login ${code === "000000" ? "111111" : "000000"}`, "That code is not right. 4 tries left.");
  await say(ana, `/login ${code}`, "Verified: this number is now linked to ana@example.com. You can chat with concierge now.");
  await say(ana, "/whoami", "This number is verified as ana@example.com.");
  await say(ana, "When is breakfast?", BREAKFAST);
  await open(page, sharing);
  await expect(page.getByTestId("verified").locator('tr[data-email="ana@example.com"]')).toContainText("+15550007777");

  // Require approval: Ana is not on the shared list, so she asks; approved, she is told and chats.
  await choosePolicy(page, "Require approval", false);
  await say(ana, "Is the pool open?", "is waiting for approval");
  await open(page, sharing);
  await expect(request(page, "ana@example.com")).toContainText("pending");
  await expect(page.getByTestId("requests")).toContainText("1 pending");
  await request(page, "ana@example.com").getByRole("button", { name: "Approve" }).click();
  await expect(page.getByTestId("decision")).toHaveText(
    "Approved: ana@example.com is on the shared list. The guest was told in their chat.",
  );
  await expect(request(page, "ana@example.com")).toContainText("approved by admin@example.com");
  await expect(page.getByTestId("shared").locator('li[data-email="ana@example.com"]')).toBeVisible();
  await expect(ana.locator("#thread .msg.reply").last()).toContainText("your request was approved");
  await say(ana, "When is breakfast?", BREAKFAST);

  // Another guest verifies and is denied: told so, and the agent stays silent for them.
  const ben = await phoneOf(page, "whatsapp:+15550008888");
  await say(ben, "/login ben@example.com", "We sent a 6-digit code");
  await say(ben, `/login ${await codeFor(ben, "ben@example.com")}`, "is waiting for approval");
  await open(page, sharing);
  await request(page, "ben@example.com").getByRole("button", { name: "Deny" }).click();
  await expect(page.getByTestId("decision")).toHaveText("Denied. The guest was told in their chat.");
  await expect(request(page, "ben@example.com")).toContainText("denied");
  await expect(ben.locator("#thread .msg.reply").last()).toHaveText(/was declined/);
  await say(ben, "When is breakfast?", "Your request to chat with concierge was declined.");

  // Onboarding: a new sender gets the onboarding message and waits for their number's approval.
  await choosePolicy(page, "Open access", true, "Welcome! Reception approves new guests first.");
  const cleo = await phoneOf(page, "whatsapp:+15550009999");
  await say(cleo, "When is breakfast?", "Welcome! Reception approves new guests first.");
  await say(cleo, "Hello?", "still waiting for approval");
  await open(page, sharing);
  const onboarding = request(page, "New sender (onboarding)").filter({ hasText: "+15550009999" });
  await onboarding.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByTestId("decision")).toHaveText("Approved. The guest was told in their chat.");
  await expect(cleo.locator("#thread .msg.reply").last()).toContainText("you have been approved");
  await say(cleo, "When is breakfast?", BREAKFAST);

  // Revoking Ana's verified address: she must /login again (the policy asks for one).
  await choosePolicy(page, "Require email", false);
  await page.getByTestId("verified").locator('tr[data-email="ana@example.com"]').getByRole("button", { name: "Revoke" }).click();
  await expect(page.getByTestId("verified").locator('tr[data-email="ana@example.com"]')).toHaveCount(0);
  await say(ana, "When is breakfast?", "Send /login followed by your email address");

  // Back to open access for whatever runs next.
  await choosePolicy(page, "Open access", false);
});
