import { defineConfig } from "@playwright/test";

// Switchboard and the simulator are started by scripts/e2e-server.sh on these ports.
export const SWITCHBOARD = process.env.E2E_SWITCHBOARD_URL ?? "http://127.0.0.1:3100";
export const SIMULATOR = process.env.E2E_SIMULATOR_URL ?? "http://127.0.0.1:3190";

// The whole suite runs twice (scripts/test.sh), each on a fresh server: at a desktop's size and,
// with E2E_SIZE=phone, as a phone (390 × 844, touch, a phone's pixel density), as staff who
// answer guests from their phones use it.
export const PHONE = process.env.E2E_SIZE === "phone";

export default defineConfig({
  testDir: "./tests",
  timeout: 90_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  outputDir: PHONE ? "test-results/phone" : "test-results/desktop",
  use: {
    baseURL: SWITCHBOARD,
    ...(PHONE
      ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }
      : { viewport: { width: 1280, height: 800 } }),
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        // The guest phone records voice notes: a fake microphone (a tone), allowed without asking.
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
      ],
    },
  },
  webServer: {
    command: "bash ../scripts/e2e-server.sh",
    url: `${SWITCHBOARD}/healthz`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: "pipe",
    stderr: "pipe",
  },
});
