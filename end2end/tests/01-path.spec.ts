import { Page } from "@playwright/test";
import { expect, test } from "../fixtures";
import { SIMULATOR } from "../playwright.config";
import { go, hydrated, topBar } from "../helpers";

// The first run on a fresh database: setup, then the whole path. Runs before the other files
// (they sign in with the admin created here). The simulator's demo account is Seed::demo in
// sim/src/lib.rs.
const ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN = "fedcba9876543210fedcba9876543210";
const WRONG_TOKEN = "00000000000000000000000000000000";
const SENDER = "+14155550100";
// scripts/e2e-server.sh starts Switchboard with this setup token.
const SETUP_TOKEN = "sbsetup_e2e-token-0123456789";

async function open(page: Page, path: string) {
  await page.goto(path);
  await hydrated(page);
}

/** No page may ever show the Auth Token. */
async function expectNoSecret(page: Page) {
  expect(await page.content()).not.toContain(AUTH_TOKEN);
}

test("an admin connects Twilio, binds a number to an agent, and a guest gets the agent's reply", async ({ page, context }) => {

  // First visit: setup creates the organization and its first admin.
  await open(page, "/");
  await expect(page).toHaveURL(/\/setup$/);
  // Without the setup token Switchboard printed at start, nobody can claim the instance.
  await page.getByLabel("Setup token").fill("sbsetup_not-the-right-token");
  await page.getByLabel("Organization name").fill("Demo Hotels");
  await page.getByLabel("Your email").fill("admin@example.com");
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create organization" }).click();
  await expect(page).toHaveURL(/\/setup$/); // the browser refuses a password under 10 characters
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Create organization" }).click();
  await expect(page.getByText("Enter the setup token Switchboard printed")).toBeVisible();
  await expect(page).toHaveURL(/\/setup$/);
  // The link in the log carries the token and fills it in.
  await open(page, `/setup?token=${SETUP_TOKEN}`);
  await expect(page.getByLabel("Setup token")).toHaveValue(SETUP_TOKEN);
  await page.getByLabel("Organization name").fill("Demo Hotels");
  await page.getByLabel("Your email").fill("admin@example.com");
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Create organization" }).click();
  await expect(page).toHaveURL(/\/connectors$/);
  await expect((await topBar(page)).getByText("admin@example.com")).toBeVisible();

  // Log out and back in.
  await (await topBar(page)).getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await hydrated(page);
  await page.getByLabel("Email").fill("admin@example.com");
  await page.getByLabel("Password").fill("wrong password!!");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByText("Wrong email or password.")).toBeVisible();
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/connectors$/);

  // A connector with a bad SID gets a field error; with a wrong token it is kept, in Error.
  await page.getByRole("link", { name: "New connector" }).click();
  await expect(page).toHaveURL(/\/connectors\/new$/);
  await page.getByLabel("Name").fill("Front Desk");
  await page.getByLabel("Account SID").fill("AC123");
  await page.getByLabel("Auth Token").fill(WRONG_TOKEN);
  await page.getByRole("button", { name: "Create connector" }).click();
  await expect(page.getByText("An Account SID is AC followed by 32 hexadecimal characters.")).toBeVisible();
  await page.getByLabel("Account SID").fill(ACCOUNT_SID);
  await page.getByRole("button", { name: "Create connector" }).click();
  await expect(page).toHaveURL(/\/connectors\/[0-9a-f]+$/);
  await expect(page.getByTestId("state").first()).toHaveText("Error");
  await expect(page.getByTestId("health").first()).toHaveText("Credentials rejected");
  await expect(page.getByTestId("reason")).toContainText("Twilio rejected these credentials");

  // Edit and save again with the right token: Active and Connected.
  await page.getByLabel("Auth Token").fill(AUTH_TOKEN);
  await page.getByRole("button", { name: "Save and check" }).click();
  await expect(page.getByTestId("state").first()).toHaveText("Active");
  await expect(page.getByTestId("health").first()).toHaveText("Connected");
  await expect(page.getByTestId("credentials-saved")).toHaveText("Saved. Twilio says: Connected.");
  await expect(page.getByLabel("Auth Token")).toHaveValue("");
  await expect(page.getByTestId("webhook-url")).toContainText("/twilio/inbound/");
  // The test server has no public URL set, so the page says Twilio could not reach it.
  await expect(page.getByTestId("public-url-warning")).toContainText("SWITCHBOARD_PUBLIC_URL is not set");
  await expectNoSecret(page);

  // Verify asks Twilio again without an edit; the page says when it last did.
  await page.getByTestId("verify").click();
  await expect(page.getByTestId("verify")).toHaveText("Verify");
  await expect(page.getByTestId("health").first()).toHaveText("Connected");
  await expect(page.getByTestId("last-checked")).toContainText(/Credentials last checked with Twilio \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);

  // "Receive inbound data" off: the page says what that means; on again, the notice goes.
  await page.getByLabel("Receive inbound data").uncheck();
  await page.getByRole("button", { name: "Save and check" }).click();
  await expect(page.getByTestId("inbound-off")).toContainText("no agent gets them");
  await page.getByLabel("Receive inbound data").check();
  await page.getByRole("button", { name: "Save and check" }).click();
  await expect(page.getByTestId("inbound-off")).toHaveCount(0);
  await expect(page.getByTestId("health").first()).toHaveText("Connected");

  // Phone Numbers: the checklist from Twilio; Set webhook only on active numbers.
  // The demo's front desk number is both a WhatsApp sender and an SMS number: one row, two capabilities.
  const numberRow = page.locator(`tr[data-number="${SENDER}"]`);
  await expect(numberRow.getByRole("checkbox")).toHaveCount(2);
  const row = numberRow.locator('[data-provider="WhatsApp"]').filter({ has: page.getByRole("button") });
  await expect(row).toBeVisible();
  await expect(row.getByRole("button", { name: "Set webhook" })).toBeDisabled();
  await page.getByLabel(`Activate ${SENDER} on WhatsApp`).check();
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(row.getByRole("button", { name: "Set webhook" })).toBeEnabled();
  await row.getByRole("button", { name: "Set webhook" }).click();
  await expect(row.getByTestId("webhook-state")).toHaveText("Webhook configured");

  // Regenerate the webhook URL (confirmed): the number needs its webhook set again.
  const before = await page.getByTestId("webhook-url").textContent();
  await page.getByRole("button", { name: "Regenerate webhook URL…" }).click();
  await expect(page.getByText("every number needs")).toBeVisible();
  await page.getByRole("button", { name: "Yes, regenerate" }).click();
  await expect(page.getByTestId("webhook-url")).not.toHaveText(before ?? "");
  await expect(row.getByTestId("webhook-state")).toHaveText("Webhook not set up in provider");
  await row.getByRole("button", { name: "Set webhook" }).click();
  await expect(row.getByTestId("webhook-state")).toHaveText("Webhook configured");

  // Send test message: a bad number gets a field error; a good one shows Twilio's Message SID.
  await page.getByLabel("To", { exact: true }).fill("12345");
  await page.getByRole("button", { name: "Send test message" }).click();
  await expect(page.getByText("Type the number in international format")).toBeVisible();
  await page.getByLabel("To", { exact: true }).fill("+15557654321");
  await page.getByRole("button", { name: "Send test message" }).click();
  await expect(page.getByTestId("test-result")).toContainText(/Message SID: SM[0-9a-f]{32}/);

  // The connectors list shows the badge.
  await go(page, "Connectors");
  await expect(page.getByTestId("connectors")).toContainText("Front Desk");
  await expect(page.getByTestId("connectors").getByTestId("health")).toHaveText("Connected");

  // An agent with the built-in FAQ brain, answering on the number.
  await go(page, "Agents");
  await page.getByRole("link", { name: "New agent" }).click();
  await page.getByLabel("Name").fill("concierge");
  await page.getByLabel(/Questions and answers/).fill("When is breakfast? | Breakfast is served from 7 to 10.");
  await page.getByRole("button", { name: "Create agent" }).click();
  await expect(page).toHaveURL(/\/agents\/[0-9a-f]+\/channels$/);
  await expect(page.getByTestId("agent-crumb")).toContainText("concierge");
  await expect(page.getByRole("navigation", { name: "Agent" })).toBeVisible();
  await page.getByLabel("Connector").selectOption({ label: "Front Desk" });
  await page.locator(`label[data-number="${SENDER}"]`).getByRole("radio").check();
  await page.getByRole("button", { name: "Add channel" }).click();
  await expect(page.getByTestId("channels")).toContainText(SENDER);
  await expect(page.getByTestId("channels")).toContainText("Front Desk");
  // The number stays offered, marked as this agent's: not "no active numbers".
  const here = page.getByTestId("add-channel").locator(`label[data-number="${SENDER}"]`);
  await expect(here).toContainText("Already a channel of this agent");
  await expect(here.getByRole("radio")).toBeDisabled();
  await expect(page.getByTestId("add-channel")).not.toContainText("no active numbers");
  const conciergeUrl = page.url();

  // Another agent sees the number as Already bound and cannot pick it.
  await go(page, "Agents");
  await page.getByRole("link", { name: "New agent" }).click();
  await page.getByLabel("Name").fill("spa");
  await page.getByRole("button", { name: "Create agent" }).click();
  await expect(page).toHaveURL(/\/agents\/[0-9a-f]+\/channels$/);
  await page.getByLabel("Connector").selectOption({ label: "Front Desk" });
  const bound = page.locator(`label[data-number="${SENDER}"]`);
  await expect(bound).toContainText("Already bound");
  await expect(bound).toContainText("concierge");
  await expect(bound.getByRole("radio")).toBeDisabled();
  await expect(page.getByRole("button", { name: "Add channel" })).toBeDisabled();

  // A guest writes from the simulator's phone (a tab of the test's browser, watched for errors as
  // the backoffice is); the agent's reply arrives there.
  const phone = await context.newPage();
  await phone.goto(`${SIMULATOR}/?to=${encodeURIComponent("whatsapp:" + SENDER)}`);
  await phone.getByLabel("Message").fill("Hello, when is breakfast?");
  await phone.getByRole("button", { name: "Send" }).click();
  await expect(phone.locator("#thread .msg.guest")).toContainText("Hello, when is breakfast?");
  await expect(phone.locator("#thread .msg.reply")).toContainText("Breakfast is served from 7 to 10.");
  await expect(phone.locator("#thread .msg.reply .meta")).toHaveText("✓✓ read");

  // ... and the conversation shows both messages in the backoffice.
  await open(page, conciergeUrl.replace(/\/channels$/, "/conversations"));
  await page.getByTestId("inbox").locator("tbody tr").first().getByRole("link").click();
  await expect(page).toHaveURL(/\/conversations\/[0-9a-f]+$/);
  const conversation = page.getByTestId("history");
  await expect(conversation.locator(".msg.in")).toContainText("Hello, when is breakfast?");
  await expect(conversation.locator(".msg.out")).toContainText("Breakfast is served from 7 to 10.");
  await expect(conversation.locator(".msg.out")).toHaveAttribute("data-status", "read");
  await expectNoSecret(page);

  // The approved template the agent sends once a guest's 24-hour window has closed.
  await open(page, conciergeUrl.replace(/\/channels$/, ""));
  const template = page.getByTestId("template");
  await expect(template.getByTestId("current-template")).toContainText("No template");
  await template.getByLabel("Connector").selectOption({ label: "Front Desk" });
  await expect(template.locator('label[data-template="spring_promo"]')).toContainText("rejected");
  await expect(template.locator('label[data-template="spring_promo"]').getByRole("radio")).toBeDisabled();
  await template.locator('label[data-template="follow_up"]').getByRole("radio").check();
  await template.getByLabel("Variables (JSON)").fill('{"1": "there"}');
  await template.getByRole("button", { name: "Save template" }).click();
  await expect(template.getByTestId("current-template")).toContainText("follow_up");
  await expectNoSecret(page);
  // Opened again, the form shows the template in use, ready to change or remove.
  await open(page, conciergeUrl.replace(/\/channels$/, ""));
  await expect(template.getByLabel("Connector")).toHaveValue(/.+/);
  await expect(template.getByLabel("Connector").locator("option:checked")).toHaveText("Front Desk");
  await expect(template.locator('label[data-template="follow_up"]').getByRole("radio")).toBeChecked();
  await expect(template.getByLabel("Variables (JSON)")).toHaveValue('{"1":"there"}');
  await expect(template.getByRole("button", { name: "Remove the template" })).toBeVisible();

  // Removing the channel only unbinds the number.
  await open(page, conciergeUrl);
  await page.getByTestId("channels").getByRole("button", { name: "Remove" }).click();
  await expect(page.getByText("This agent answers on no number yet.")).toBeVisible();

  // Refused input answers 4xx by design (and the browser logs it); nothing else may be logged.
});
