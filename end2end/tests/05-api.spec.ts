import { Page } from "@playwright/test";
import { expect, test } from "../fixtures";
import { go, hydrated, signIn } from "../helpers";

// Runs after 01-path.spec.ts, signed in as the admin it created (whose agent "concierge" exists).

test("an admin creates an API token, scripts the API with it, and revokes it", async ({ page, playwright }) => {
  await signIn(page);

  await go(page, "API tokens");
  await expect(page.getByText("No tokens yet.")).toBeVisible();
  await page.getByRole("button", { name: "Create token" }).click(); // the browser asks for a name first
  await page.getByLabel("Name").fill("deploy script");
  await page.getByRole("button", { name: "Create token" }).click();
  const token = (await page.getByTestId("token").textContent()) ?? "";
  expect(token).toMatch(/^sbt_[A-Za-z0-9_-]{40,}$/);
  const row = page.getByTestId("tokens").locator('tr[data-name="deploy script"]');
  await expect(row).toContainText(token.slice(0, 10));
  await expect(row).toContainText("never");

  // The API, as a script would call it (no browser session).
  const script = await playwright.request.newContext({ baseURL: page.url().replace(/\/tokens$/, "") });
  const headers = { Authorization: `Bearer ${token}` };
  const agents = await script.get("/api/agents", { headers });
  expect(agents.status()).toBe(200);
  expect((await agents.json()).map((a: { name: string }) => a.name)).toContain("concierge");
  const missing = await script.get("/api/agents/nobody", { headers });
  expect(missing.status()).toBe(404);
  expect((await missing.json()).error.code).toBe("not_found");
  const doc = await script.get("/api/openapi.json");
  expect((await doc.json()).paths["/api/agents/{name}/whatsapp"]).toBeTruthy();

  // The page shows the use; the token is not shown again.
  await page.reload();
  await hydrated(page);
  await expect(row).not.toContainText("never");
  expect(await page.content()).not.toContain(token);

  // Revoked: the API refuses it at once.
  await row.getByRole("button", { name: "Revoke" }).click();
  await expect(page.getByText("No tokens yet.")).toBeVisible();
  const refused = await script.get("/api/agents", { headers });
  expect(refused.status()).toBe(401);
  expect((await refused.json()).error.code).toBe("unauthorized");
  await script.dispose();

});
