import { expect, test } from "../fixtures";
import { SIMULATOR } from "../playwright.config";
import { go, hydrated, phoneOf, say, signIn } from "../helpers";

// Runs after 10-privacy.spec.ts: the concierge answers on +14155550100 with open access. The
// simulator stands in for the customer's hook (/_sim/hook, which offers two buttons when a guest
// asks for "options") and for a transcription API (/_sim/llm/v1, which hears a text file as its
// words).
const GUEST = "+15550007777";

test("a guest sends a voice note, a document and taps a button; the inbox shows the words, the player, the file and the choice", async ({
  page,
}) => {
  await signIn(page);
  await go(page, "Agents");
  await hydrated(page);
  // The organization's transcription API, which every agent without its own uses.
  const organization = page.getByTestId("org-transcription");
  await expect(organization.getByTestId("current-org-transcription")).toHaveText(
    "None: only agents with their own transcribe voice notes.",
  );
  await organization.getByLabel("Transcription API (URL)").fill(`${SIMULATOR}/_sim/llm/v1`);
  await organization.getByLabel("Transcription model").fill("whisper-1");
  await organization.getByLabel("Transcription key").fill("sk-demo-transcribe-0123456789");
  await organization.getByRole("button", { name: "Save the organization's transcription API" }).click();
  await expect(organization.getByTestId("current-org-transcription")).toContainText("whisper-1");
  await expect(organization.getByLabel("Transcription key")).toHaveAttribute(
    "placeholder",
    "Set · leave empty to keep it",
  );
  await page.getByTestId("agents").getByRole("link", { name: "concierge" }).click();
  await hydrated(page);
  // Opened on its channels: the overview holds the brain and the senses.
  if (/\/channels$/.test(page.url())) {
    await page.goto(page.url().replace(/\/channels$/, ""));
    await hydrated(page);
  }

  await page.locator('select[name="brain"]').selectOption({ label: "HTTP hook" });
  await page.getByLabel("Hook URL").fill(`${SIMULATOR}/_sim/hook`);
  await page.getByRole("button", { name: "Save agent" }).click();
  await expect(page.getByTestId("brain")).toHaveText("HTTP hook");

  // The agent has none of its own: it uses the organization's.
  const senses = page.getByTestId("senses");
  await expect(senses.getByTestId("current-transcription")).toContainText(
    /^Transcribes with whisper-1 at .*, the organization's/,
  );
  await expect(senses.getByLabel("Transcription key")).toHaveAttribute("placeholder", "sk-…");

  // From the guest's phone: a voice note (the stand-in hears the file's text), then a tap.
  const phone = await phoneOf(page, `whatsapp:${GUEST}`);
  const replies = phone.locator("#thread .msg.reply");
  await phone.getByLabel("Voice note, photo or file").setInputFiles({
    name: "note.ogg",
    mimeType: "audio/ogg",
    buffer: Buffer.from("Is the spa open tonight?"),
  });
  await phone.getByRole("button", { name: "Upload file" }).click();
  await expect(replies.last()).toContainText("(demo hook) Got: [Voice note] Is the spa open tonight?");
  // Recorded from the microphone (Chromium records MP4, a format WhatsApp sends), the stand-in
  // hears its size.
  await phone.getByRole("button", { name: "Record voice note" }).click();
  await expect(phone.getByRole("status")).toHaveText("Recording…");
  await expect(phone.locator("#recorded")).toHaveText("1 s");
  await phone.getByRole("button", { name: "Stop and send" }).click();
  await expect(phone.getByRole("status")).toHaveText("Voice note sent.");
  await expect(replies.last()).toContainText(
    "(demo hook) Got: [Voice note] (simulated transcription by whisper-1) A voice note of",
  );
  // A document: the brain hears its name (the Media SID Twilio gave it) and type.
  await phone.getByLabel("Voice note, photo or file").setInputFiles({
    name: "invoice.pdf",
    mimeType: "application/pdf",
    buffer: Buffer.from("%PDF-1.4 the invoice"),
  });
  await phone.getByRole("button", { name: "Upload file" }).click();
  const sentFile = /\(demo hook\) Got: \[Sent a file: (ME[0-9a-f]{32}\.pdf) \(application\/pdf\)\]/;
  await expect(replies.last()).toContainText(sentFile);
  const fileName = sentFile.exec((await replies.last().textContent()) ?? "")?.[1];
  await say(phone, "Any options for dinner?", "(demo hook) Got: Any options for dinner?");
  await replies.last().getByRole("button", { name: "No, thanks" }).click();
  await expect(replies.last()).toContainText('(demo hook) Got: [Tapped "No, thanks"]');

  // The inbox: the player and the words under it, the buttons offered, the choice made.
  await go(page, "Inbox");
  await hydrated(page);
  await page.getByTestId("inbox").locator("tr", { hasText: GUEST }).getByRole("link").first().click();
  await expect(page).toHaveURL(/\/conversations\/[0-9a-f]+$/);
  await hydrated(page);
  const history = page.getByTestId("history");
  await expect(history.locator("audio")).toHaveCount(2);
  await expect(history.getByTestId("transcript").first()).toHaveText("Is the spa open tonight?");
  await expect(history.getByTestId("transcript").last()).toContainText("A voice note of");
  await expect(history.getByTestId("offered")).toContainText("Offered: Yes · No, thanks");
  // The document, a link named as a screen reader says it (the clip is hidden from it).
  const file = history.getByRole("link", { name: `Attachment (application/pdf): ${fileName}`, exact: true });
  await expect(file).toHaveAttribute("href", /^\/media\/[0-9a-f]+$/);
  const tapped = history.locator(".msg.in", { has: page.getByTestId("choice") });
  await expect(tapped).toContainText("No, thanks");
  await expect(tapped.getByTestId("choice")).toHaveAttribute("title", "no");
});
