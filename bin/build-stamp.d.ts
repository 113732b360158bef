/** The checkout's root directory, with a trailing slash. */
export const ROOT: string;
/** True when `root`'s dist/ was built (stamped) after the last change to any source or setting. */
export function buildIsFresh(root?: string): Promise<boolean>;
/** Marks `root`'s dist/ as built now. */
export function stampBuild(root?: string): Promise<void>;
