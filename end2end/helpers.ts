import { expect, Page } from "@playwright/test";

/// Signs in as the admin 01-path.spec.ts created, and lands on Connectors.
export async function signIn(page: Page) {
  await page.goto("/login");
  await page.locator('body[data-hydrated="true"]').waitFor();
  await page.getByLabel("Email").fill("admin@example.com");
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/connectors$/);
}
