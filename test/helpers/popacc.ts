/**
 * A small synthesizable Verilog module for the synthesis tests: N xnor lanes against constant
 * weights W, popcounted and accumulated into ACC bits (clocked, synchronous reset).
 */
export const POPACC = `
module popacc #(parameter N = 16, parameter ACC = 8, parameter [N-1:0] W = 16'hA5F0) (
  input wire clk, input wire rst, input wire [N-1:0] x, output reg [ACC-1:0] acc);
  integer i;
  reg [ACC-1:0] s;
  always @* begin
    s = 0;
    for (i = 0; i < N; i = i + 1) s = s + {{(ACC-1){1'b0}}, ~(x[i] ^ W[i])};
  end
  always @(posedge clk) if (rst) acc <= 0; else acc <= acc + s;
endmodule
`;
