import { Page } from "@playwright/test";
import { expect, test } from "../fixtures";
import { SIMULATOR } from "../playwright.config";
import { go, hydrated, signIn } from "../helpers";

// Runs after 01-path.spec.ts, signed in as the admin it created. The simulator stands in for a
// language model (/_sim/llm/v1) and for a customer's hook (/_sim/hook).
const API_KEY = "sk-demo-7f3a9c2e5b1d4a6f8e0c";


async function tryAgent(page: Page, text: string) {
  const box = page.getByTestId("try");
  const before = await box.getByTestId("try-agent").count();
  await box.getByLabel("Message to the agent").fill(text);
  await box.getByRole("button", { name: "Send" }).click();
  await expect(box.getByTestId("try-agent")).toHaveCount(before + 1);
  return box.getByTestId("try-agent").last();
}

test("an admin sets up an agent with each brain, tries it, and deletes it", async ({ page }) => {
  const answers: Promise<string>[] = [];
  page.on("response", (r) => {
    if (r.url().includes("/ui/")) answers.push(r.text().catch(() => ""));
  });
  await signIn(page);

  // A name that cannot go in an API path is refused; the built-in FAQ brain is the default.
  await go(page, "Agents");
  await page.getByRole("link", { name: "New agent" }).click();
  await page.getByLabel("Name").fill("night desk");
  await page.getByLabel("Description").fill("Answers guests at night");
  await page.getByLabel(/Questions and answers/).fill("Is the bar open? | The bar is open until 1 am.");
  await page.getByRole("button", { name: "Create agent" }).click();
  await expect(page.getByText("Give the agent a name of 1 to 80 letters")).toBeVisible();
  await page.getByLabel("Name").fill("night-desk");
  await page.getByRole("button", { name: "Create agent" }).click();
  await expect(page).toHaveURL(/\/agents\/[0-9a-f]+\/channels$/);
  const overview = page.url().replace(/\/channels$/, "");

  // Try the agent: the FAQ answers, and a question it does not know gets the fallback reply.
  await page.goto(overview);
  await hydrated(page);
  await expect(page.getByTestId("brain")).toHaveText("Built-in FAQ");
  await expect(await tryAgent(page, "is the bar open tonight?")).toContainText("The bar is open until 1 am.");
  await expect(await tryAgent(page, "Can I bring my dog?")).toContainText("A colleague will get back to you.");

  // An OpenAI-compatible model: the key is required, then kept without being shown again.
  await page.locator('select[name="brain"]').selectOption({ label: "OpenAI-compatible chat completions" });
  await page.getByLabel("Base URL").fill(`${SIMULATOR}/_sim/llm/v1`);
  await page.getByLabel("Model", { exact: true }).fill("demo-model");
  await page.getByLabel(/Instructions/).fill("You are the night concierge.");
  await page.getByRole("button", { name: "Save agent" }).click();
  await expect(page.getByText("Enter the API key of the model API.")).toBeVisible();
  await page.getByLabel("API key").fill(API_KEY);
  await page.getByRole("button", { name: "Save agent" }).click();
  await expect(page.getByTestId("brain")).toHaveText("OpenAI-compatible chat completions");
  await expect(page.getByLabel("API key")).toHaveAttribute("placeholder", "Set · leave empty to keep it");
  const model = await tryAgent(page, "Any late snacks?");
  await expect(model).toContainText("(simulated model demo-model) You said: Any late snacks?");
  await expect(model).toContainText("and your instructions");
  expect(await page.content()).not.toContain(API_KEY);

  // An HTTP hook: its signing secret is shown once.
  await page.locator('select[name="brain"]').selectOption({ label: "HTTP hook" });
  await page.getByLabel("Hook URL").fill(`${SIMULATOR}/_sim/hook`);
  await page.getByRole("button", { name: "Save agent" }).click();
  await expect(page.getByTestId("brain")).toHaveText("HTTP hook");
  await expect(page.getByTestId("hook-secret")).toContainText(/sbhs_[A-Za-z0-9_-]{40,}/);
  await expect(await tryAgent(page, "Hello hook")).toContainText("(demo hook) Got: Hello hook");
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("hook-secret")).toHaveCount(0);

  // Delete (confirmed): the agent is gone from the list.
  await page.getByRole("button", { name: "Delete agent…" }).click();
  await expect(page.getByText("Its channels are removed")).toBeVisible();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page).toHaveURL(/\/agents$/);
  await expect(page.getByTestId("agents")).not.toContainText("night-desk");

  const bodies = await Promise.all(answers);
  expect(bodies.filter((b) => b.includes(API_KEY))).toEqual([]);
});
