/**
 * LibreOffice user profiles: one template, initialised once (LibreOffice's first start in a new
 * profile is slow), and a copy of it per slot. The template's registrymodifications.xcu hardens
 * every conversion:
 * - macros: security level "very high" (3: only signed macros from trusted locations, and none are
 *   trusted) and macro execution disabled outright, so an auto-run macro (OnLoad) never runs;
 * - network: BlockUntrustedRefererLinks stops LibreOffice from loading a graphic, frame or other
 *   linked resource that a document (not in a trusted location; none is) points at, e.g.
 *   `<img src="http://…">` in HTML or an external image relationship in a docx, and links in
 *   Writer and Calc (DDE, OLE, external data) are never updated (Content/Update/Link 1 = never).
 * A slot whose soffice was killed or crashed gets a fresh copy of the template: a crash can leave a
 * `.lock`, a half-written registry or recovery data behind.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MediaError } from '../../media-error';

const run = promisify(execFile);

const prop = (path: string, name: string, value: string) =>
  `<item oor:path="${path}"><prop oor:name="${name}" oor:op="fuse"><value>${value}</value></prop></item>`;

const SECURITY = '/org.openoffice.Office.Common/Security/Scripting';

/** The settings, as LibreOffice's own registrymodifications.xcu writes them. */
export const HARDENED_SETTINGS: readonly string[] = [
  prop(SECURITY, 'MacroSecurityLevel', '3'),
  prop(SECURITY, 'DisableMacrosExecution', 'true'),
  prop(SECURITY, 'BlockUntrustedRefererLinks', 'true'),
  prop('/org.openoffice.Office.Writer/Content/Update', 'Link', '1'),
  prop('/org.openoffice.Office.Calc/Content/Update', 'Link', '1'),
  // No first-start wizard, no update check, no crash-report dialog, no document recovery.
  prop('/org.openoffice.Setup/Office', 'ooSetupInstCompleted', 'true'),
  prop('/org.openoffice.Office.Common/Misc', 'FirstRun', 'false'),
  prop('/org.openoffice.Office.Recovery/AutoSave', 'Enabled', 'false'),
  prop('/org.openoffice.Office.Recovery/RecoveryInfo', 'Enabled', 'false'),
];

const XCU = [
  '<?xml version="1.0" encoding="UTF-8"?>',
  '<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
  ...HARDENED_SETTINGS,
  '</oor:items>',
  '',
].join('\n');

/** Flags of every soffice run: no window, no recovery, no start centre, no lock check for the profile. */
export const SOFFICE_FLAGS = ['--headless', '--invisible', '--norestore', '--nologo', '--nodefault', '--nolockcheck'];

/** `-env:UserInstallation=file:///…` for a profile folder. */
export function userInstallation(profileDir: string): string {
  return `-env:UserInstallation=file://${encodeURI(profileDir)}`;
}

export function registryPath(profileDir: string): string {
  return join(profileDir, 'user', 'registrymodifications.xcu');
}

const READY_MARK = '.kiln-ready';
/** soffice.bin's exit code when it wants to be started again (E_NORMAL_RESTART). */
const RESTART_REQUESTED = 81;

/** Creates and initialises the template profile in `dir` unless a finished one is there. */
export async function ensureTemplate(dir: string, sofficePath: string): Promise<void> {
  if (
    await readFile(join(dir, READY_MARK), 'utf8').then(
      (v) => v === XCU,
      () => false,
    )
  )
    return;
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'user'), { recursive: true });
  await writeFile(registryPath(dir), XCU);
  try {
    await run(sofficePath, [userInstallation(dir), ...SOFFICE_FLAGS, '--terminate_after_init'], {
      timeout: 120_000,
      killSignal: 'SIGKILL',
    });
  } catch (err: unknown) {
    // 81: the first start in a new profile asks for a restart; the profile is written by then.
    if ((err as { code?: unknown }).code !== RESTART_REQUESTED)
      throw new MediaError('internal', `LibreOffice could not initialise a profile in ${dir}`, undefined, {
        cause: err,
      });
  }
  const written = await readFile(registryPath(dir), 'utf8');
  for (const setting of ['MacroSecurityLevel', 'DisableMacrosExecution', 'BlockUntrustedRefererLinks']) {
    if (!written.includes(`"${setting}"`))
      throw new MediaError('internal', `LibreOffice dropped the ${setting} setting from the profile in ${dir}`);
  }
  await rm(join(dir, '.lock'), { force: true });
  await writeFile(join(dir, READY_MARK), XCU);
}

/** Replaces the profile in `profileDir` with a fresh copy of the template. */
export async function resetProfile(templateDir: string, profileDir: string): Promise<void> {
  await rm(profileDir, { recursive: true, force: true });
  await cp(templateDir, profileDir, { recursive: true });
  await rm(join(profileDir, READY_MARK), { force: true });
}
