/** The emulator's HMI: plays the user who is informed of updates and asked for consent. */
export { HMI_PLAYER_ANSWERS, HmiPlayer, type HmiPlayerAnswer, type HmiPlayerEvent, type HmiPlayerOptions } from './player.js';
