-- Which node has consoles of which agent open: with several nodes, a call
-- for an agent whose console is on another node is offered there
-- (remote_offer), and the admin view shows an agent online wherever it is.
CREATE TABLE agent_consoles (
    agent    TEXT NOT NULL,
    node     TEXT NOT NULL,
    consoles INTEGER NOT NULL,
    PRIMARY KEY (agent, node)
);
