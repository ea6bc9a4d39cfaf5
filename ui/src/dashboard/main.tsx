import "./styles.css";

import { createRoot } from "react-dom/client";

import { pageConfig } from "../shared/config";
import { App } from "./app";

const root = document.getElementById("root");
if (root !== null) createRoot(root).render(<App config={pageConfig(document)} />);
