import { Page } from "@playwright/test";
import { expect, test } from "../fixtures";
import { go, hydrated, topBar } from "../helpers";

// Runs after 01-path.spec.ts: its admin and its "Front Desk" connector, whose number
// +14155550100 is active and free again at the end of that test.
const PASSWORD = "correct horse battery";
const SENDER = "+14155550100";

async function logIn(page: Page, email: string, password: string) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

test("an admin adds an agent owner, who manages only their own agent", async ({ page }) => {
  await logIn(page, "admin@example.com", PASSWORD);
  await expect(page).toHaveURL(/\/connectors$/);

  // Users: a bad password is refused; an agent owner is added.
  await go(page, "Users");
  await expect(page.getByTestId("users")).toContainText("admin@example.com (you)");
  await page.getByLabel("Email").fill("owner@example.com");
  await page.getByLabel("Role").selectOption({ label: "Agent owner" });
  await page.getByLabel(/First password/).fill("0123456789");
  await page.getByRole("button", { name: "Add user" }).click();
  await expect(page.getByTestId("users").locator('tr[data-email="owner@example.com"]')).toContainText("Agent owner");
  await expect(page.getByText("owner@example.com can now log in as agent owner.")).toBeVisible();
  await expect(page.getByLabel("Email")).toHaveValue("");
  await expect(page.getByLabel(/First password/)).toHaveValue("");
  await page.getByLabel("Email").fill("owner@example.com");
  await page.getByLabel(/First password/).fill(PASSWORD);
  await page.getByRole("button", { name: "Add user" }).click();
  await expect(page.getByText("A user with this email already exists.")).toBeVisible();
  await (await topBar(page)).getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  // The owner lands on Agents; Connectors and Users are not theirs.
  await logIn(page, "owner@example.com", "0123456789");
  await expect(page).toHaveURL(/\/agents$/);
  await expect((await topBar(page)).getByRole("link", { name: "Connectors" })).toHaveCount(0);
  await expect((await topBar(page)).getByRole("link", { name: "Users" })).toHaveCount(0);
  await expect(page.getByText("No agents yet.")).toBeVisible();
  await page.goto("/connectors");
  await expect(page.getByText("You do not have access to this.")).toBeVisible();
  await expect(page.getByRole("link", { name: "New connector" })).toHaveCount(0);
  // Their inbox is empty, and says so without blaming a filter nobody set.
  await page.goto("/inbox");
  await expect(page.getByText(/^No conversations yet\./)).toBeVisible();
  await expect(page.getByText("No conversations match.")).toHaveCount(0);

  // Their own agent, bound to a number picked by connector name.
  await page.goto("/agents");
  await hydrated(page);
  await page.getByRole("link", { name: "New agent" }).click();
  await page.getByLabel("Name").fill("owners-bot");
  await page.getByRole("button", { name: "Create agent" }).click();
  await expect(page).toHaveURL(/\/agents\/[0-9a-f]+\/channels$/);
  await page.getByLabel("Connector").selectOption({ label: "Front Desk" });
  await page.locator(`label[data-number="${SENDER}"]`).filter({ hasText: "WhatsApp" }).getByRole("radio").check();
  await page.getByRole("button", { name: "Add channel" }).click();
  await expect(page.getByTestId("channels")).toContainText(SENDER);

  // The channel's routes: only one sender, replies to a fixed number; a bad number is refused.
  const routes = page.getByTestId("channels").getByTestId("routes");
  await expect(routes).toHaveText("All senders · replies to the sender");
  await page.getByText("Edit routes").click();
  await page.getByLabel(/Accept only messages from/).fill("15550001111");
  await page.getByRole("button", { name: "Save routes" }).click();
  await expect(page.getByText("Type the number in international format")).toBeVisible();
  await page.getByLabel(/Accept only messages from/).fill("+15550001111");
  await page.getByLabel(/Send replies to a fixed number/).fill("+15550002222");
  await page.getByRole("button", { name: "Save routes" }).click();
  await expect(routes).toHaveText("Only from +15550001111 · replies to +15550002222");

  await go(page, "Agents");
  await expect(page.getByTestId("agents")).toContainText("owners-bot");
  await expect(page.getByTestId("agents")).not.toContainText("concierge");
  await (await topBar(page)).getByRole("button", { name: "Log out" }).click();

  // The admin sees the owner's agent and can remove the owner.
  await logIn(page, "admin@example.com", PASSWORD);
  await go(page, "Agents");
  await expect(page.getByTestId("agents")).toContainText("owners-bot");
  await go(page, "Users");
  await page.getByTestId("users").locator('tr[data-email="owner@example.com"]').getByRole("button", { name: "Remove" }).click();
  await expect(page.getByTestId("users")).not.toContainText("owner@example.com");

});
