import { MarkerError, npmScripts, readBlocks } from './blocks';

const fence = '```';

describe('readBlocks', () => {
  test('a ts block without a marker is a program to run', () => {
    const [block] = readBlocks(`# Title\n\n## Part\n\n${fence}ts\nconsole.log(1);\n${fence}\n`);
    expect(block).toMatchObject({ line: 5, lang: 'ts', kind: 'run', heading: 'Part', code: 'console.log(1);\n' });
    expect(block?.stdout).toBeUndefined();
  });

  test('markers before the fence, needs and reasons, stdout after it', () => {
    const markdown = [
      '<!-- doc:typecheck forks workers on a fixed port -->',
      `${fence}ts`,
      'a;',
      fence,
      '',
      '<!-- doc:server needs:redis -->',
      '',
      `${fence}ts`,
      'b;',
      fence,
      '<!-- doc:stdout',
      'one',
      'two',
      '-->',
      `${fence}sh`,
      'npm run example:tcp-echo && npm test',
      fence,
    ].join('\n');
    const [check, server, shell] = readBlocks(markdown);
    expect(check).toMatchObject({ kind: 'typecheck', reason: 'forks workers on a fixed port', needs: [] });
    expect(server).toMatchObject({ kind: 'server', needs: ['redis'], reason: '', stdout: 'one\ntwo' });
    // The stdout comment of one block is not the marker of the next.
    expect(shell).toMatchObject({ kind: 'run', lang: 'sh' });
    expect(npmScripts(shell?.code ?? '')).toEqual(['example:tcp-echo']);
  });

  test('a skip or typecheck marker without a reason, an unknown marker, an open fence: errors', () => {
    expect(() => readBlocks(`<!-- doc:skip -->\n${fence}ts\nx\n${fence}\n`)).toThrow(MarkerError);
    expect(() => readBlocks(`<!-- doc:typecheck -->\n${fence}ts\nx\n${fence}\n`)).toThrow(/needs a reason/);
    expect(() => readBlocks(`<!-- doc:runn -->\n${fence}ts\nx\n${fence}\n`)).toThrow(/unknown marker/);
    expect(() => readBlocks(`${fence}ts\nx\n`)).toThrow(/unclosed/);
  });
});
