import { expect, Page, test as base } from "@playwright/test";

/// Every browser test, with the pages of its browser context watched (a test opens more pages
/// with `context.newPage()`; one opened in another context, with `browser.newPage()`, would not
/// be): an error a page's program threw (a panic, an exception) or printed to the console fails
/// the test once its steps are done, with the page it came from. A refused request (4xx) prints a console error of its own, and the tests provoke
/// those on purpose; a test that provokes more says so with `test.use({ expectedErrors })` (one
/// pattern: an array there would be read as a fixture's definition).
export const test = base.extend<{ expectedErrors: RegExp; watchedErrors: void }>({
  expectedErrors: [/the server responded with a status of 4\d\d/, { option: true }],
  watchedErrors: [
    async ({ context, expectedErrors }, use) => {
      const errors: string[] = [];
      const watch = (page: Page) => {
        const seen = (error: string) => {
          if (!expectedErrors.test(error)) errors.push(`${page.url()}: ${error}`);
        };
        page.on("pageerror", (error) => seen(error.message));
        page.on("console", (line) => line.type() === "error" && seen(line.text()));
      };
      context.pages().forEach(watch);
      context.on("page", watch);
      await use();
      expect(errors, "errors in the browser").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };
