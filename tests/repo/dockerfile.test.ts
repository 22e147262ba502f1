// Proves the Dockerfile builds the image the issue asks for, without a Docker engine: it splits the
// file into stages and checks a Node LTS base within `engines`, a build stage that installs with dev
// dependencies, generates code, builds the IDE and prunes, and a runtime stage that installs
// nothing, copies what the services read, runs as a non-root user with the data folder its only
// writable place, passes SIGTERM on to the service and exposes every port of the configuration;
// also that what `npm start` runs (tsx) is a production dependency and that .dockerignore keeps
// built files out of the context.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envSchemas, loadServiceList, repositoryRoot } from '@paygraph/config';

interface Instruction {
  keyword: string;
  argument: string;
}
interface Stage {
  name: string;
  image: string;
  instructions: Instruction[];
}

const dockerfile = readFileSync(path.join(repositoryRoot, 'Dockerfile'), 'utf8');
const rootManifest = JSON.parse(readFileSync(path.join(repositoryRoot, 'package.json'), 'utf8')) as {
  engines: { node: string };
  workspaces: string[];
  scripts: Record<string, string>;
  dependencies?: Record<string, string>;
};

/** Instructions with their continuation lines joined, comments and blank lines dropped. */
function parseInstructions(text: string): Instruction[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  return logical.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), argument: rest.join(' ') };
  });
}

const instructions = parseInstructions(dockerfile);
/** ARGs declared before the first FROM: their defaults substitute into FROM lines. */
const globalArgs = new Map<string, string>();
const stages: Stage[] = [];
for (const instruction of instructions) {
  if (instruction.keyword === 'FROM') {
    const [image = '', as, name] = instruction.argument.split(/\s+/);
    const resolved = image.replace(/\$\{?(\w+)\}?/g, (_match, variable: string) => globalArgs.get(variable) ?? '');
    stages.push({ name: as?.toUpperCase() === 'AS' && name ? name : String(stages.length), image: resolved, instructions: [] });
  } else if (stages.length === 0) {
    if (instruction.keyword === 'ARG') {
      const [variable = '', value = ''] = instruction.argument.split('=');
      globalArgs.set(variable, value);
    }
  } else {
    stages.at(-1)!.instructions.push(instruction);
  }
}
const runtime = stages.at(-1)!;
const build = stages.find((stage) => runtime.instructions.some((instruction) => instruction.keyword === 'COPY' && instruction.argument.includes(`--from=${stage.name}`)));
const runs = (stage: Stage) => stage.instructions.filter((instruction) => instruction.keyword === 'RUN').map((instruction) => instruction.argument);
const copies = (stage: Stage) => stage.instructions.filter((instruction) => instruction.keyword === 'COPY').map((instruction) => instruction.argument.split(/\s+/));
const lastOf = (stage: Stage, keyword: string) => stage.instructions.filter((instruction) => instruction.keyword === keyword).at(-1)?.argument;

describe('Dockerfile', () => {
  it('has a build stage and a runtime stage that copies from it', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build, 'a stage the runtime stage copies from').toBeDefined();
    expect(build).not.toBe(runtime);
  });

  it.each(stages.map((stage) => stage.name))('stage %s is on an even (LTS) Node major that package.json engines accept', (name) => {
    const stage = stages.find((entry) => entry.name === name)!;
    const major = Number(/^node:(\d+)/.exec(stage.image)?.[1]);
    expect(major, `FROM ${stage.image}`).toBeGreaterThan(0);
    expect(major % 2, 'an even major: odd Node releases are never LTS').toBe(0);
    const engineFloor = Number(/^>=(\d+)/.exec(rootManifest.engines.node)?.[1]);
    expect(major).toBeGreaterThanOrEqual(engineFloor);
  });

  it('installs with dev dependencies in the build stage, with the patches present, then prunes them', () => {
    const buildRuns = runs(build!);
    const install = buildRuns.findIndex((command) => /\bnpm ci\b/.test(command));
    expect(install, 'npm ci in the build stage').toBeGreaterThanOrEqual(0);
    expect(buildRuns[install]).not.toMatch(/--omit[= ]dev|--production/);
    // patch-package runs in npm ci's postinstall: patches/ must be in the image before it.
    const installIndex = build!.instructions.findIndex((instruction) => instruction.keyword === 'RUN' && /\bnpm ci\b/.test(instruction.argument));
    const sources = (instruction: Instruction) => instruction.argument.split(/\s+/).slice(0, -1);
    const patchesIndex = build!.instructions.findIndex((instruction) => instruction.keyword === 'COPY' && sources(instruction).some((source) => source === 'patches' || source === '.'));
    expect(patchesIndex, 'patches/ copied before npm ci').toBeGreaterThanOrEqual(0);
    expect(patchesIndex).toBeLessThan(installIndex);
    const prune = buildRuns.findIndex((command) => /\bnpm prune\b.*--omit[= ]dev/.test(command));
    expect(prune, 'npm prune --omit=dev after the build steps').toBeGreaterThan(install);
    // Everything that needs dev dependencies happens before the prune.
    for (const step of [/npm run codegen/, /ensureIdeBundle/]) {
      const index = buildRuns.findIndex((command) => step.test(command));
      expect(index, String(step)).toBeGreaterThan(install);
      expect(index, String(step)).toBeLessThan(prune);
    }
  });

  it('generates the typed documents the services import at run time (src/generated stays out of the context)', () => {
    expect(runs(build!).some((command) => /npm run codegen/.test(command))).toBe(true);
    expect(rootManifest.scripts.codegen).toBeDefined();
  });

  it('installs nothing in the runtime stage: it copies the pruned node_modules', () => {
    for (const command of runs(runtime)) expect(command).not.toMatch(/\bnpm (ci|install|i)\b|\byarn\b|\bpnpm\b/);
    expect(copies(runtime).some((parts) => parts.includes(`--from=${build!.name}`) && parts.some((part) => /(^|\/)node_modules$/.test(part)))).toBe(true);
  });

  it('copies every workspace and what npm start runs into the runtime stage', () => {
    const copied = copies(runtime)
      .filter((parts) => parts.includes(`--from=${build!.name}`))
      .flatMap((parts) => parts.filter((part) => !part.startsWith('--')).slice(0, -1))
      .map((source) => source.replace(/^\/app\//, ''));
    const covers = (file: string) => copied.some((source) => file === source || file.startsWith(`${source}/`));
    for (const workspace of rootManifest.workspaces) {
      const target = workspace.endsWith('/*') ? workspace.slice(0, -2) : `${workspace}/package.json`;
      expect(covers(target), `${workspace} in the runtime image`).toBe(true);
    }
    for (const file of ['package.json', 'package-lock.json', 'scripts/start.ts', 'schema/supergraph.yaml', 'schema/supergraph.graphql', 'gateway/ide-dist']) {
      expect(covers(file), `${file} in the runtime image`).toBe(true);
    }
  });

  it('runs what npm start and every workspace start script run from production dependencies (tsx)', () => {
    // docker-compose.yml and deploy/k8s run `npm start -w <workspace>` for the gateway and each subgraph.
    const starts = [rootManifest.scripts.start!];
    for (const directory of ['gateway', ...loadServiceList({}).map((entry) => `subgraphs/${entry.name}`)]) {
      const manifest = JSON.parse(readFileSync(path.join(repositoryRoot, directory, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
      expect(manifest.scripts?.start, `${directory} has a start script`).toBeDefined();
      starts.push(manifest.scripts!.start!);
    }
    for (const start of starts) {
      const program = start.split(/\s+/)[0]!;
      if (program === 'node') continue;
      expect(rootManifest.dependencies?.[program], `${program} (from "${start}") among the root's production dependencies`).toBeDefined();
    }
  });

  it('runs as the unprivileged node user, in production mode, with the data folder its one writable place', () => {
    expect(lastOf(runtime, 'USER')).toBe('node');
    expect(runtime.instructions.some((instruction) => instruction.keyword === 'ENV' && /\bNODE_ENV=production\b/.test(instruction.argument))).toBe(true);
    const workdir = lastOf(runtime, 'WORKDIR')!;
    const dataDirectory = path.posix.join(workdir, envSchemas.common.DATA_DIR.parse(undefined));
    expect(runs(runtime).some((command) => command.includes(`chown node:node ${dataDirectory}`))).toBe(true);
    // Copied files stay root's: the service cannot rewrite its own code.
    for (const parts of copies(runtime)) expect(parts.some((part) => part.startsWith('--chown'))).toBe(false);
  });

  it('stops gracefully on SIGTERM: npm runs scripts through a shell that execs the command (bash, not dash)', () => {
    // The containers run `npm start [-w ...]`; through dash the signal stops at the shell.
    const env = runtime.instructions.filter((instruction) => instruction.keyword === 'ENV').map((instruction) => instruction.argument).join(' ');
    expect(env).toMatch(/\bNPM_CONFIG_SCRIPT_SHELL=\/bin\/bash\b/);
  });

  it('exposes the gateway port and every subgraph port of the service list', () => {
    const exposed = new Set(runtime.instructions.filter((instruction) => instruction.keyword === 'EXPOSE').flatMap((instruction) => instruction.argument.split(/\s+/).map((port) => Number(port.split('/')[0]))));
    const ports = [envSchemas.gateway.PORT.parse(undefined), ...loadServiceList({}).map((entry) => entry.port)];
    for (const port of ports) expect(exposed.has(port), `EXPOSE ${port}`).toBe(true);
  });

  it('keeps node_modules, generated code and the built IDE out of the build context (.dockerignore)', () => {
    const ignorePath = path.join(repositoryRoot, '.dockerignore');
    expect(existsSync(ignorePath)).toBe(true);
    const ignored = readFileSync(ignorePath, 'utf8').split('\n').map((line) => line.trim());
    for (const entry of ['node_modules', '**/src/generated', 'gateway/ide-dist', '.git', '.data']) expect(ignored).toContain(entry);
  });
});
