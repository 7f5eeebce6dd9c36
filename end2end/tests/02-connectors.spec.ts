import { Page } from "@playwright/test";
import { expect, test } from "../fixtures";
import { SIMULATOR } from "../playwright.config";
import { faults, go, hydrated, signIn } from "../helpers";

// Runs after 01-path.spec.ts, signed in as the admin it created, on the simulator's demo account.
const ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN = "fedcba9876543210fedcba9876543210";
const FRONT = "+14155550100";
const SPA = "+14155550101";
const SMS = "+14155550199";

// Twilio's outage, injected below, answers the page's requests with 502.
test.use({ expectedErrors: /the server responded with a status of (4\d\d|502)/ });

test("an admin keeps a connector healthy: outage, every number's webhook, a bound number, the sandbox, delete", async ({
  page,
}) => {
  // Every server function's answer (JSON) is searched for the Auth Token too.
  const answers: Promise<string>[] = [];
  page.on("response", (r) => {
    if (r.url().includes("/ui/")) answers.push(r.text().catch(() => ""));
  });
  await signIn(page);

  // Twilio is down while the connector is created: it is kept, in Error, and says why.
  await faults(page, { outage: true });
  await page.getByRole("link", { name: "New connector" }).click();
  await page.getByLabel("Name").fill("Spa Desk");
  await page.getByLabel("Account SID").fill(ACCOUNT_SID);
  await page.getByLabel("Auth Token").fill(AUTH_TOKEN);
  await page.getByRole("button", { name: "Create connector" }).click();
  await expect(page).toHaveURL(/\/connectors\/[0-9a-f]+$/);
  await expect(page.getByTestId("health").first()).toHaveText("Unreachable");
  await expect(page.getByTestId("reason")).toContainText("Twilio unreachable");
  await expect(page.getByText("Fix the credentials below to list this account's numbers.")).toBeVisible();
  const connectorUrl = page.url();

  // Twilio is back: Verify turns the badge green and the numbers appear.
  await faults(page, {});
  await page.getByTestId("verify").click();
  await expect(page.getByTestId("health").first()).toHaveText("Connected");
  await expect(page.getByTestId("reason")).toHaveCount(0);
  await expect(page.getByTestId("account-name")).toHaveText("Twilio account: Demo Hotels");

  // The inbound webhook URL, copied for manual setup.
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  await page.getByRole("button", { name: "Copy", exact: true }).click();
  await expect(page.getByRole("button", { name: "Copied" })).toBeVisible();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied).toBe(await page.getByTestId("webhook-url").textContent());
  expect(copied).toContain("/twilio/inbound/");

  // One row per number; the front desk is WhatsApp and SMS.
  const numbers = page.getByTestId("numbers");
  await expect(numbers.locator(`tr[data-number="${FRONT}"]`).getByRole("checkbox")).toHaveCount(2);
  await expect(numbers.locator(`tr[data-number="${SMS}"]`).getByRole("checkbox")).toHaveCount(1);

  // Activate three, then "Set webhook on all active numbers": a result for each.
  await page.getByLabel(`Activate ${FRONT} on WhatsApp`).check();
  await page.getByLabel(`Activate ${SPA} on WhatsApp`).check();
  await page.getByLabel(`Activate ${SMS} on SMS`).check();
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(numbers.locator(`tr[data-number="${SPA}"]`).getByRole("button", { name: "Set webhook" })).toBeEnabled();
  await page.getByRole("button", { name: "Set webhook on all active numbers" }).click();
  const results = page.getByTestId("bulk-result");
  await expect(results.locator("li")).toHaveCount(3);
  for (const phone of [FRONT, SPA, SMS]) {
    await expect(results.locator(`li[data-number="${phone}"]`)).toContainText("Webhook configured");
  }
  await expect(numbers.getByTestId("webhook-state").filter({ hasText: "Webhook configured" })).toHaveCount(3);

  // Regenerate: the three numbers whose webhook was set are flagged (not the one that never had
  // one); one click sets them all again.
  await page.getByRole("button", { name: "Regenerate webhook URL…" }).click();
  await page.getByRole("button", { name: "Yes, regenerate" }).click();
  await expect(numbers.getByTestId("webhook-state").filter({ hasText: "Webhook not set up in provider" })).toHaveCount(3);
  await expect(numbers.getByTestId("webhook-detail").filter({ hasText: "regenerated" })).toHaveCount(3);
  await expect(results, "what the bulk set said of the former URL went with it").toHaveCount(0);
  await page.getByRole("button", { name: "Set webhook on all active numbers" }).click();
  await expect(numbers.getByTestId("webhook-state").filter({ hasText: "Webhook configured" })).toHaveCount(3);

  // The WhatsApp sandbox, added by hand with its join keyword.
  await page.getByText("Add the WhatsApp sandbox").click();
  await page.getByLabel("Join keyword").fill("not a keyword!");
  await page.getByRole("button", { name: "Add sandbox" }).click();
  await expect(page.getByText("Enter the sandbox's join keyword")).toBeVisible();
  await page.getByLabel("Join keyword").fill("join silver-tiger");
  await page.getByRole("button", { name: "Add sandbox" }).click();
  const sandbox = numbers.locator('tr[data-number="+14155238886"]');
  await expect(sandbox.getByTestId("sandbox-join")).toContainText("join silver-tiger");
  await expect(page.getByTestId("sandbox-added")).toBeVisible();
  await expect(page.getByLabel("Join keyword")).toHaveValue("");
  await expect(sandbox.getByTestId("webhook-state")).toHaveText("Set by hand in the Twilio Console");

  // An agent answers on the spa's number.
  await go(page, "Agents");
  await page.getByRole("link", { name: "New agent" }).click();
  await page.getByLabel("Name").fill("pool");
  await page.getByRole("button", { name: "Create agent" }).click();
  await expect(page).toHaveURL(/\/agents\/[0-9a-f]+\/channels$/);
  await page.getByLabel("Connector").selectOption({ label: "Spa Desk" });
  await page.locator(`label[data-number="${SPA}"]`).getByRole("radio").check();
  await page.getByRole("button", { name: "Add channel" }).click();
  await expect(page.getByTestId("channels")).toContainText(SPA);
  const poolChannels = page.url();

  // Deactivating that number asks first; Cancel keeps it, confirming unbinds it.
  await page.goto(connectorUrl);
  await hydrated(page);
  const spaRow = numbers.locator(`tr[data-number="${SPA}"]`);
  await expect(spaRow).toContainText("pool");
  await page.getByLabel(`Activate ${SPA} on WhatsApp`).uncheck();
  await page.getByRole("button", { name: "Save", exact: true }).click();
  const confirm = page.getByTestId("unbind-confirm");
  await expect(confirm).toContainText(`${SPA} (WhatsApp) answers for pool`);
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await expect(confirm).toHaveCount(0);
  await expect(spaRow).toContainText("pool");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByRole("button", { name: "Deactivate and unbind" }).click();
  await expect(spaRow).not.toContainText("pool");
  await expect(spaRow.getByRole("button", { name: "Set webhook" })).toBeDisabled();

  // Bind the front desk to the agent, then delete the connector: the confirmation lists it.
  await page.goto(poolChannels);
  await hydrated(page);
  await page.getByLabel("Connector").selectOption({ label: "Spa Desk" });
  await page.locator(`label[data-number="${FRONT}"]`).filter({ hasText: "WhatsApp" }).getByRole("radio").check();
  await page.getByRole("button", { name: "Add channel" }).click();
  await expect(page.getByTestId("channels")).toContainText(FRONT);
  await page.goto(connectorUrl);
  await hydrated(page);
  await page.getByRole("button", { name: "Delete connector…" }).click();
  await expect(page.getByTestId("bound-channels")).toContainText(`pool on ${FRONT} (WhatsApp)`);
  await page.getByRole("button", { name: "Cancel" }).last().click();
  await expect(page.getByTestId("delete-confirm")).toHaveCount(0);
  await page.getByRole("button", { name: "Delete connector…" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page.getByTestId("deleted")).toHaveText("Spa Desk is deleted.");
  await expect(page.getByTestId("cleanup").locator(`li[data-number="${FRONT}"]`).first()).toContainText(
    "Webhook cleared in Twilio.",
  );
  await page.getByRole("link", { name: "Back to connectors" }).click();
  await expect(page.getByTestId("connectors")).not.toContainText("Spa Desk");
  expect(await page.content()).not.toContain(AUTH_TOKEN);
  const bodies = await Promise.all(answers);
  expect(bodies.length).toBeGreaterThan(10);
  expect(bodies.filter((b) => b.includes(AUTH_TOKEN))).toEqual([]);

});
