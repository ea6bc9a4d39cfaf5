// The page's panels, in the order it shows them.
import chats from "./chats";
import feedback from "./feedback";
import models from "./models";
import spend from "./spend";
import tags from "./tags";
import tokens from "./tokens";
import totals from "./totals";
import users from "./users";

export const PANELS = [totals, spend, tokens, models, users, tags, feedback, chats] as const;
