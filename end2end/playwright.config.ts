import { defineConfig } from "@playwright/test";

// Switchboard and the simulator are started by scripts/e2e-server.sh on these ports.
export const SWITCHBOARD = process.env.E2E_SWITCHBOARD_URL ?? "http://127.0.0.1:3100";
export const SIMULATOR = process.env.E2E_SIMULATOR_URL ?? "http://127.0.0.1:3190";

export default defineConfig({
  testDir: "./tests",
  timeout: 90_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: SWITCHBOARD,
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
