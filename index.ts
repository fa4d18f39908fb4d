import { loadSettings } from "./topology/settings";

const { settings } = loadSettings();
export const target = settings.target;
