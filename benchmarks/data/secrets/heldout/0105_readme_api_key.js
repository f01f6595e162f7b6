module.exports = {
  readmeapikey: "rdme_8pg5h268khu7yo7g2ohf4q6tbvyp1j62e4q089ehyhrycf8wez44kzcqzzy2ap8ie5zng3",
  host: "0.0.0.0",
  buildid: "20240611.3",
  debug: "false",
};
