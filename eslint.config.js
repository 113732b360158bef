// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

// The dependency rule of docs/architecture.md: pure layers never import I/O libraries.
const ioLibraries = ['express', 'kysely', 'pg', '@electric-sql/pglite', '@eventstore/db-client'];
const pureLayerRule = {
  'no-restricted-imports': [
    'error',
    {
      paths: ioLibraries.map((name) => ({ name, message: 'pure layer: no I/O libraries here' })),
      patterns: [
        { group: ['**/store/**', '**/http/**', '**/cli/**'], message: 'pure layer: no I/O here' },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.ledger/', 'coverage/', 'schemas/json/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/domain/**', 'src/policy/**', 'src/audit/**', 'schemas/**', 'projections/**'],
    rules: pureLayerRule,
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  prettier,
);
