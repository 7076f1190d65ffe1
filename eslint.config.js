import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', performance: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // The agent never imports the emulator; adapters never import the agent (docs/ARCHITECTURE.md).
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['drivers/**', 'ota/**', 'config/**', 'core/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/agent/**', '**/hw-emulator/**'], message: 'drivers/, ota/, config/ and core/ never import agent/ or hw-emulator/' }] }],
    },
  },
  {
    files: ['agent/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/hw-emulator/**'], message: 'the agent never imports the emulator' }] }],
    },
  },
  {
    files: ['config/**', 'core/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/agent/**', '**/hw-emulator/**', '**/drivers/**', '**/ota/**'], message: 'config/ and core/ import nothing of ours but core/' }] }],
    },
  },
);
