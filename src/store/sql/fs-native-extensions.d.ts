/**
 * The part of `fs-native-extensions` (holepunchto, prebuilt N-API addon, no install script) that
 * the directory lock uses. The package ships no types of its own.
 */
declare module 'fs-native-extensions' {
  /**
   * Takes an exclusive advisory lock on the whole file open at `fd` without waiting: `false` when
   * another open file description (in any process, this one included) holds it. Linux uses an
   * open-file-description lock (`F_OFD_SETLK`), macOS `flock`, Windows `LockFileEx`; the kernel
   * releases it when the descriptor closes, which includes the death of the process.
   */
  export function tryLock(fd: number): boolean;
}
